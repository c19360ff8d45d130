"""Build the serving image with buildah for each framework and report its uncompressed size
above the base, against the naive single-stage Dockerfile (same base, same pins) built in the
same run. Run through bench/image.sh.

usage: image_sizes.py WORKDIR FRAMEWORK...
VARIANTS (environment, default all): which images to build, of naive baked s3 compiled-s3; the
ratio needs naive in the same run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.naive_image import naive_requirements  # noqa: E402
from mlinfra.image import write_build_context  # noqa: E402
from mlinfra.serving.compiled.artifact import sidecar_path  # noqa: E402
from tests.support.buildah import BASE, STORAGE, build, ensure_base, image_size, sh  # noqa: E402

NAIVE_DOCKERFILE = """\
FROM {base}
WORKDIR /app
COPY requirements.txt ./
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt
COPY app.py {model} ./
CMD ["/opt/venv/bin/uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8080"]
"""
# bench/make_model.py family per framework; the others get a stand-in file (their models
# are not read at build time, so the bytes do not matter beyond their size).
TRAINED = {"sklearn": "hgb", "xgboost": "xgboost", "lightgbm": "lightgbm"}
EXT = {"sklearn": "skops", "xgboost": "ubj", "lightgbm": "txt", "onnx": "onnx", "torchscript": "pt"}
MB = 1e6
VARIANTS = {
    "naive": "naive single-stage",
    "baked": "mlinfra, model baked",
    "s3": "mlinfra, model from S3 at start",
    "compiled-s3": "mlinfra, compiled ahead of time, from S3 at start",
}


def compiled_ahead(model: Path) -> Path | None:
    """The model compiled as a training job would (`python -m mlinfra.serving.compiled`), or None
    when it is not covered."""
    done = subprocess.run([sys.executable, "-m", "mlinfra.serving.compiled", str(model)], cwd=ROOT, check=False)
    sidecar = sidecar_path(model)
    return sidecar if done.returncode == 0 and sidecar.is_file() else None


def model_for(framework: str, work: Path) -> Path:
    if framework in TRAINED:
        out = subprocess.run(
            [sys.executable, str(ROOT / "bench/make_model.py"), TRAINED[framework], str(work)],
            capture_output=True,
            text=True,
            check=True,
        )
        return Path(out.stdout.strip())
    path = work / f"model.{EXT[framework]}"
    path.write_bytes(b"\0" * 100_000)
    return path


def naive_context(framework: str, model: Path, ctx: Path) -> Path:
    ctx.mkdir(parents=True)
    reqs = naive_requirements(framework, gpu=False)
    (ctx / "requirements.txt").write_text("\n".join(reqs) + "\n")
    shutil.copyfile(ROOT / "bench/baseline_app.py", ctx / "app.py")
    shutil.copyfile(model, ctx / model.name)
    dockerfile = ctx / "Dockerfile"
    dockerfile.write_text(NAIVE_DOCKERFILE.format(base=BASE, model=model.name))
    return dockerfile


def contexts(fw: str, model: Path, work: Path, wanted: list[str]) -> dict[str, Path]:
    """Variant title -> its Dockerfile, for the VARIANTS asked for (compiled-s3 only where the
    model compiles)."""
    out: dict[str, Path] = {}
    if "naive" in wanted:
        out[VARIANTS["naive"]] = naive_context(fw, model, work / f"{fw}-naive")
    mlinfra = []
    if "baked" in wanted:
        mlinfra.append(("baked", str(model), fw, True, model))
    if "s3" in wanted:
        mlinfra.append(("s3", f"s3://bench-models/{fw}/{model.name}", fw, False, model))
    ahead = compiled_ahead(model) if "compiled-s3" in wanted and fw in TRAINED else None
    if ahead is not None:
        mlinfra.append(("compiled-s3", f"s3://bench-models/{fw}/{ahead.name}", "compiled", False, ahead))
    for key, uri, framework, bake, file in mlinfra:
        out[VARIANTS[key]] = write_build_context(
            work / f"{fw}-{key}",
            service="bench",
            model_uri=uri,
            framework=framework,
            gpu=False,
            bake_model=bake,
            model_sha256=hashlib.sha256(file.read_bytes()).hexdigest(),
            base_image=BASE,
        )
    return out


def biggest_packages(buildah: str, ref: str, top: int = 6) -> str:
    """The largest entries of the image's site-packages: where its megabytes go."""
    container = sh(buildah, *STORAGE, "from", ref).strip()
    try:
        mount = Path(sh(buildah, *STORAGE, "mount", container).strip())
        site = next(mount.glob("opt/venv/lib/python3*/site-packages"))
        du = sh("du", "-s", "--block-size=1", *sorted(str(p) for p in site.iterdir()))
        entries = (line.split("\t") for line in du.splitlines())
        sizes = sorted(((int(n), Path(p).name) for n, p in entries), reverse=True)
        return ", ".join(f"{name} {n / MB:.0f}" for n, name in sizes[:top])
    finally:
        subprocess.run([buildah, *STORAGE, "rm", container], capture_output=True)


def main() -> int:
    work, frameworks = Path(sys.argv[1]), sys.argv[2:]
    tools = {t: shutil.which(t) for t in ("buildah", "podman", "debootstrap")}
    missing = [t for t, p in tools.items() if p is None]
    if missing:
        print(f"missing {', '.join(missing)} (apt-get install buildah podman debootstrap)", file=sys.stderr)
        return 2
    buildah, podman, debootstrap = (str(tools[t]) for t in ("buildah", "podman", "debootstrap"))
    ensure_base(podman, debootstrap, work)
    base = image_size(podman, BASE)
    print(f"base {BASE}: {base / MB:.1f} MB", flush=True)
    wanted = (os.environ.get("VARIANTS") or " ".join(VARIANTS)).split()
    unknown = sorted(set(wanted) - set(VARIANTS))
    if unknown:
        print(f"VARIANTS: unknown {unknown}; allowed: {' '.join(VARIANTS)}", file=sys.stderr)
        return 2
    rows = []
    for fw in frameworks:
        model = model_for(fw, work)
        variants = contexts(fw, model, work, wanted)
        sizes: dict[str, int] = {}
        for variant, dockerfile in variants.items():
            tag = f"localhost/mlinfra-bench-{fw}:{hashlib.sha256(variant.encode()).hexdigest()[:8]}"
            started = time.monotonic()
            build(buildah, tag, dockerfile, timeout=3000)
            sizes[variant] = image_size(podman, tag) - base
            where = biggest_packages(buildah, tag)
            print(
                f"{fw} / {variant}: {sizes[variant] / MB:.1f} MB above the base "
                f"(built in {time.monotonic() - started:.0f} s); largest in site-packages, MB: {where}",
                flush=True,
            )
            subprocess.run([buildah, *STORAGE, "rmi", tag], capture_output=True)
        naive = sizes.get(VARIANTS["naive"])
        for variant, size in sizes.items():
            ratio = f"{size / naive:.2f}x" if naive else "(no naive build in this run)"
            rows.append(f"| {fw} | {variant} | {size / MB:.1f} | {ratio} |")
    print()
    print("| framework | image | MB above the base (uncompressed) | ratio to naive |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    print("goal: the CPU image at most 0.6x the naive image's bytes above the base")
    return 0


if __name__ == "__main__":
    sys.exit(main())
