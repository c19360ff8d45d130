"""Write a service's complete Docker build context: Dockerfile, requirements, the runtime,
and (when baked) the model. Byte-for-byte deterministic for the same arguments: files are
written in sorted order with fixed modes and mtimes, and nothing depends on time or host."""

from __future__ import annotations

import os
import re
import shutil
import urllib.parse
from pathlib import Path

from mlinfra.errors import BuildContextError
from mlinfra.image.bases import CPU_BASE, base_kind
from mlinfra.image.dockerfile import ImageSpec, render
from mlinfra.image.requirements import (
    RUNTIME_REQUIREMENTS,
    framework_requirements,
)
from mlinfra.serving.compiled.coverage import COMPILABLE_FRAMEWORKS
from mlinfra.serving.contract import BAKED_MODEL_DIR, model_env
from mlinfra.serving.fetch import model_filename
from mlinfra.serving.frameworks import FRAMEWORKS, infer_framework

_SERVICE_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_RUNTIME_DIR = Path(__file__).resolve().parent.parent / "serving"
# A held-out sample shipped beside a local model: `<model file>.sample.npy`.
SAMPLE_SUFFIX = ".sample.npy"
_EPOCH = 315532800  # 1980-01-01, the earliest time zip-based tools accept


def write_build_context(
    out_dir: Path,
    *,
    service: str,
    model_uri: str,
    framework: str,
    gpu: bool,
    port: int = 8080,
    model_sha256: str | None = None,
    bake_model: bool = False,
    trusted_pickle: bool = False,
    base_image: str | None = None,
    model_file: Path | None = None,
) -> Path:
    """Write the build context into `out_dir` (replacing what the generator wrote there
    before) and return the Dockerfile's path.

    `bake_model`: the model is copied into the context and the image. A local one (path or
    file://) from where it is; a remote one (s3://, https://, which needs `model_sha256`) from
    `model_file`, the copy the deployer downloaded and verified (`mlinfra.image.stage`), so
    the build itself needs no credentials. Without `model_file` the context is complete except
    for the model (what the offline plan writes). Default: the model is fetched at start-up.
    Held-out sample: a local baked model `X` with a file `X.sample.npy` beside it (2-D rows
    of the model's inputs, no pickles) has the compiled form verified on those rows too; the
    sample stays in the build stage, never in the image.
    `base_image`: default a digest-pinned python:3.11-slim-bookworm, for GPU images too (the
    GPU wheels carry their CUDA libraries: `mlinfra.image.bases`); any Debian bookworm image
    with python3 and venv works.
    """
    problems = []
    if not _SERVICE_RE.match(service):
        problems.append(f"service {service!r}: lowercase letters, digits and '-', max 63")
    if framework not in FRAMEWORKS:
        problems.append(f"framework {framework!r}: allowed {', '.join(FRAMEWORKS)}")
    if not 1 <= port <= 65535:
        problems.append(f"port {port}: allowed 1-65535")
    if model_sha256 is not None and not _SHA_RE.match(model_sha256):
        problems.append("model_sha256: 64 lowercase hex characters")
    scheme = urllib.parse.urlparse(model_uri).scheme.lower()
    if scheme not in ("", "file", "s3", "https"):
        problems.append(f"model_uri scheme {scheme!r}: allowed s3, https, file or a path")
    local = scheme in ("", "file")
    local_path = Path(urllib.parse.urlparse(model_uri).path if scheme == "file" else model_uri)
    if bake_model and local and not local_path.is_file():
        problems.append(f"model_uri {model_uri!r}: bake_model needs the file, which is missing")
    if bake_model and not local and model_sha256 is None:
        problems.append(
            "model_sha256: required to bake a remote model (the image tag and the download are pinned to it)"
        )
    if problems:
        raise BuildContextError("invalid image build context: " + "; ".join(problems))

    filename = model_filename(model_uri)
    baked_file = None
    source: Path | None = None
    if bake_model:
        baked_file = f"model/{filename}"
        source = local_path if local else model_file
    env = model_env(
        model_uri=f"{BAKED_MODEL_DIR}/{filename}" if bake_model else model_uri,
        model_name=service,
        framework=framework,
        port=port,
        model_sha256=model_sha256,
        trusted_pickle=trusted_pickle,
    )

    # A baked model of a compilable framework is compiled in the build stage; the framework
    # pins then live in their own file, installed for the runtime only if compiling fails.
    compiled = bake_model and framework in COMPILABLE_FRAMEWORKS
    framework_reqs = framework_requirements(framework, gpu)
    reqs = list(RUNTIME_REQUIREMENTS) + ([] if compiled else framework_reqs)
    sample = local_path.with_name(local_path.name + SAMPLE_SUFFIX)
    sample_file = f"sample/{sample.name}" if compiled and local and sample.is_file() else None
    spec = ImageSpec(
        base_image=base_image or CPU_BASE,
        kind=base_kind(),
        gpu=gpu,
        service=service,
        port=port,
        env=tuple(sorted(env.items())),
        baked_file=baked_file,
        needs_libgomp=framework == "lightgbm",
        compile_model=f"{BAKED_MODEL_DIR}/{filename}" if compiled else None,
        compile_trusted_pickle=trusted_pickle,
        compile_sample=sample_file,
    )

    files: dict[str, bytes] = {
        "Dockerfile": render(spec).encode(),
        "requirements.txt": ("\n".join(sorted(reqs)) + "\n").encode(),
        ".dockerignore": b"**/__pycache__\n**/*.pyc\n",
        # An empty package root: the image carries the runtime only, not the SDK (and so
        # never imports pulumi).
        "mlinfra/__init__.py": b"",
    }
    if compiled:
        files["requirements-framework.txt"] = ("\n".join(sorted(framework_reqs)) + "\n").encode()
    for src in sorted(_RUNTIME_DIR.rglob("*.py")):
        files[f"mlinfra/serving/{src.relative_to(_RUNTIME_DIR).as_posix()}"] = src.read_bytes()

    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for rel in sorted(files):
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[rel])
        target.chmod(0o644)
        os.utime(target, (_EPOCH, _EPOCH))
    if baked_file is not None and source is not None:
        _place_model(source, out_dir / baked_file)
    if sample_file is not None:
        _place_model(sample, out_dir / sample_file)
    return out_dir / "Dockerfile"


def _place_model(source: Path, target: Path) -> None:
    """Link the model into the context (a copy across file systems): never read into memory."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
        target.chmod(0o644)
        os.utime(target, (_EPOCH, _EPOCH))


def build_context_framework(model_uri: str, framework: str | None = None) -> str:
    """The framework to build for: explicit, else inferred from the file extension."""
    chosen = framework or infer_framework(model_uri)
    if chosen is None:
        raise BuildContextError(
            f"cannot tell the framework of {model_uri!r} from its extension; "
            f"set framework to one of {', '.join(FRAMEWORKS)}"
        )
    return chosen
