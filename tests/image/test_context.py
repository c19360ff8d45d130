"""The generated build context: determinism, content, and the linters' verdicts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from itertools import product
from pathlib import Path

import pytest

from mlinfra.image import framework_requirements, infer_framework, write_build_context
from mlinfra.image.bases import CPU_BASE
from mlinfra.image.requirements import RUNTIME_REQUIREMENTS
from mlinfra.serving.frameworks import FRAMEWORKS

REPO = Path(__file__).resolve().parents[2]
SHA = "ab" * 32


def tree(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mode, int(p.stat().st_mtime))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_context_is_deterministic(tmp_path: Path) -> None:
    kwargs = {
        "service": "fraud",
        "model_uri": "s3://acme/fraud/v12/model.skops",
        "framework": "sklearn",
        "gpu": False,
        "model_sha256": SHA,
    }
    a = write_build_context(tmp_path / "a", **kwargs)  # type: ignore[arg-type]
    b = write_build_context(tmp_path / "b", **kwargs)  # type: ignore[arg-type]
    assert tree(a.parent) == tree(b.parent)
    (a.parent / "stale.txt").write_text("left over")
    write_build_context(a.parent, **kwargs)  # type: ignore[arg-type]
    assert tree(a.parent) == tree(b.parent)  # regenerating replaces, never accumulates
    c = write_build_context(tmp_path / "c", **{**kwargs, "gpu": True})  # type: ignore[arg-type]
    assert c.read_bytes() != a.read_bytes()


def test_context_contents(tmp_path: Path) -> None:
    dockerfile = write_build_context(
        tmp_path / "ctx",
        service="fraud",
        model_uri="s3://acme/fraud/v12/model.skops",
        framework="sklearn",
        gpu=False,
        model_sha256=SHA,
        port=9000,
    )
    root = dockerfile.parent
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert "mlinfra/__init__.py" in files
    assert (root / "mlinfra/__init__.py").read_bytes() == b""
    assert "mlinfra/serving/__main__.py" in files
    assert not any(f.startswith("mlinfra/image") for f in files)
    reqs = (root / "requirements.txt").read_text().splitlines()
    # An s3:// model needs no boto3: the runtime reads S3 with its own stdlib client.
    assert reqs == sorted([*RUNTIME_REQUIREMENTS, *framework_requirements("sklearn", False)])
    text = dockerfile.read_text()
    assert len(re.findall(r"^FROM \S+@sha256:[0-9a-f]{64}", text, re.M)) == 2  # multi-stage, pinned
    assert "install --no-cache-dir" in text
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert "HEALTHCHECK" in text
    assert "127.0.0.1:9000/health" in text
    assert text.rstrip().endswith('CMD ["python3", "-m", "mlinfra.serving"]')
    assert "MLINFRA_MODEL_URI=s3://acme/fraud/v12/model.skops" in text
    assert f"MLINFRA_MODEL_SHA256={SHA}" in text
    assert "MLINFRA_PORT=9000" in text
    assert not re.search(r"^ARG ", text, re.M)
    assert not re.search(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY)", text)


def test_gpu_images_have_one_cuda_copy_from_the_gpu_wheels(tmp_path: Path) -> None:
    """No CUDA base under wheels that bring CUDA themselves (old code: nvidia/cuda 12.8 under
    torch's and onnxruntime-gpu's CUDA 13 wheels): the slim Python base, onnxruntime-gpu with
    the extras that carry its CUDA runtime and cuDNN, the driver capabilities the NVIDIA
    container runtime reads."""
    for framework, ext in (("onnx", "onnx"), ("torchscript", "pt"), ("xgboost", "ubj")):
        text = write_build_context(
            tmp_path / framework,
            service="vision",
            model_uri=f"s3://acme/v/model.{ext}",
            framework=framework,
            gpu=True,
            model_sha256=SHA,
        ).read_text()
        assert "nvidia/cuda" not in text
        assert {line for line in text.splitlines() if line.startswith("FROM ")} == {
            f"FROM {CPU_BASE} AS build",
            f"FROM {CPU_BASE}",
        }
        assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in text
        assert "python3=" not in text
    reqs = (tmp_path / "onnx/requirements.txt").read_text().splitlines()
    assert "onnxruntime-gpu[cuda,cudnn]==1.31.1" in reqs
    cpu = write_build_context(
        tmp_path / "cpu", service="vision", model_uri="s3://acme/v/model.onnx", framework="onnx", gpu=False
    ).read_text()
    assert "NVIDIA_DRIVER_CAPABILITIES" not in cpu


def test_runtime_venv_gets_no_pip(tmp_path: Path) -> None:
    """pip (and setuptools) stay in the build stage: the runtime venv is made without pip and
    filled from outside by the build stage's pip (old code: pip and setuptools, ~23 MB, in
    every image)."""
    text = write_build_context(
        tmp_path / "ctx", service="fraud", model_uri="s3://acme/f/m.skops", framework="sklearn", gpu=False
    ).read_text()
    assert "python3 -m venv --without-pip /opt/venv" in text
    assert "/opt/venv/bin/pip" not in text
    final = text.split("\nFROM ", 2)[-1]
    assert "COPY --from=build /opt/venv /opt/venv" in final
    assert "/opt/pip" not in final


def test_bake_local_model_copies_it(tmp_path: Path) -> None:
    model = tmp_path / "m.skops"
    model.write_bytes(b"model-bytes")
    df = write_build_context(
        tmp_path / "ctx",
        service="fraud",
        model_uri=model.as_uri(),
        framework="sklearn",
        gpu=False,
        bake_model=True,
    )
    assert (df.parent / "model/m.skops").read_bytes() == b"model-bytes"
    text = df.read_text()
    assert "COPY model/m.skops /opt/model/" in text
    assert "MLINFRA_MODEL_URI=/opt/model/m.skops" in text


def test_bake_remote_model_copies_the_deployers_verified_download(tmp_path: Path) -> None:
    staged = tmp_path / "staged.ubj"
    staged.write_bytes(b"xgb-model")
    df = write_build_context(
        tmp_path / "ctx",
        service="fraud",
        model_uri="s3://acme/f/model.ubj",
        framework="xgboost",
        gpu=False,
        bake_model=True,
        model_sha256=SHA,
        model_file=staged,
    )
    text = df.read_text()
    # The build needs no credentials: no build-stage download, no secret mount.
    assert "--mount=type=secret" not in text
    assert "mlinfra.serving.fetch" not in text
    assert "COPY model/model.ubj /opt/model/" in text
    assert "MLINFRA_MODEL_URI=/opt/model/model.ubj" in text
    assert f"MLINFRA_MODEL_SHA256={SHA}" in text  # verified again when the server starts
    assert (df.parent / "model/model.ubj").read_bytes() == b"xgb-model"
    # The runtime never needs boto3 (mlinfra.serving.aws reads S3 and Secrets Manager).
    assert "boto3" not in (df.parent / "requirements.txt").read_text()


def test_bake_remote_model_needs_its_digest(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="model_sha256: required to bake a remote model"):
        write_build_context(
            tmp_path / "ctx",
            service="fraud",
            model_uri="s3://acme/f/model.ubj",
            framework="xgboost",
            gpu=False,
            bake_model=True,
        )


def test_bad_arguments_reported_together(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="service 'Bad_Name'") as info:
        write_build_context(
            tmp_path / "x",
            service="Bad_Name",
            model_uri="ftp://x/m.skops",
            framework="keras",
            gpu=False,
            port=0,
            model_sha256="xyz",
        )
    message = str(info.value)
    for part in ("framework 'keras'", "port 0", "model_sha256", "scheme 'ftp'"):
        assert part in message


@pytest.mark.parametrize(
    ("uri", "framework"),
    [
        ("s3://b/k/model.skops", "sklearn"),
        ("model.joblib", "sklearn"),
        ("/m/x.PKL", "sklearn"),
        ("https://h/m.ubj", "xgboost"),
        ("m.json", "xgboost"),
        ("m.xgb", "xgboost"),
        ("file:///m/model.txt", "lightgbm"),
        ("m.lgb", "lightgbm"),
        ("m.onnx", "onnx"),
        ("m.pt", "torchscript"),
        ("m.torchscript", "torchscript"),
        ("s3://b/k/model.skops.mlinfra.npz", "compiled"),
        ("m.MLINFRA.NPZ", "compiled"),
        ("m.npz", None),
        ("m.bin", None),
        ("s3://b/model", None),
    ],
)
def test_infer_framework(uri: str, framework: str | None) -> None:
    assert infer_framework(uri) == framework


def test_requirements_are_pinned_and_match_the_repo_file() -> None:
    for fw, gpu in product(FRAMEWORKS, (False, True)):
        for req in framework_requirements(fw, gpu):
            assert re.fullmatch(r"[A-Za-z0-9_.-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.+]*", req), req
    with pytest.raises(ValueError, match="allowed"):
        framework_requirements("keras", False)
    listed = [
        line
        for line in (REPO / "requirements-serving.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert sorted(listed) == sorted(RUNTIME_REQUIREMENTS)


def test_runtime_in_context_imports_no_pulumi_or_boto3(tmp_path: Path) -> None:
    root = write_build_context(
        tmp_path / "ctx",
        service="fraud",
        model_uri="s3://a/m.skops",
        framework="sklearn",
        gpu=False,
    ).parent
    code = (
        "import sys, mlinfra.serving.__main__, mlinfra.serving.server, mlinfra.serving.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'boto3', 'botocore', 'sklearn')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "[]"


def _all_contexts(root: Path) -> list[Path]:
    model = root / "model.skops"
    model.write_bytes(b"x")
    out = []
    for fw, gpu, bake in product(FRAMEWORKS, (False, True), (False, True)):
        ext = {
            "sklearn": "skops",
            "xgboost": "ubj",
            "lightgbm": "txt",
            "onnx": "onnx",
            "torchscript": "pt",
            "compiled": "skops.mlinfra.npz",
        }[fw]
        uri = f"s3://acme/{fw}/model.{ext}"
        out.append(
            write_build_context(
                root / f"{fw}-{'gpu' if gpu else 'cpu'}-{'bake' if bake else 'fetch'}",
                service=f"svc-{fw}",
                model_uri=uri,
                framework=fw,
                gpu=gpu,
                bake_model=bake,
                model_sha256=SHA,
                trusted_pickle=fw == "sklearn",
            )
        )
    out.append(
        write_build_context(
            root / "local-bake",
            service="svc",
            model_uri=str(model),
            framework="sklearn",
            gpu=False,
            bake_model=True,
        )
    )
    return out


def test_hadolint_reports_nothing(tmp_path: Path) -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    for dockerfile in _all_contexts(tmp_path):
        result = subprocess.run([str(hadolint), str(dockerfile)], capture_output=True, text=True)
        assert result.stdout == "", f"{dockerfile}:\n{result.stdout}"
        assert result.returncode == 0


def test_checkov_reports_nothing(tmp_path: Path) -> None:
    # checkov lives in its own virtualenv (its pins clash with the SDK's); shared with the gate.
    from tests.gate.tools import checkov as checkov_tool

    checkov = checkov_tool()
    contexts = _all_contexts(tmp_path)
    result = subprocess.run(
        [
            checkov,
            "-d",
            str(tmp_path),
            "--framework",
            "dockerfile",
            "--skip-download",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [], json.dumps(failed, indent=1)[:3000]
    scanned = sum(r["summary"]["resource_count"] for r in reports)
    assert scanned == len(contexts)
    assert result.returncode == 0


def _compile_run_lines(dockerfile: str) -> list[str]:
    build_stage = dockerfile.split("\nFROM ", 2)[1]
    runs = re.findall(r"^RUN (.*?)(?<!\\)$", build_stage, re.M | re.S)
    return [r.replace("\\\n", "") for r in runs if "mlinfra.serving.compiled" in r]


def test_baked_models_are_compiled_in_the_build_stage(tmp_path: Path) -> None:
    model = tmp_path / "m.skops"
    model.write_bytes(b"model-bytes")
    df = write_build_context(
        tmp_path / "ctx",
        service="fraud",
        model_uri=str(model),
        framework="sklearn",
        gpu=False,
        bake_model=True,
        trusted_pickle=True,
    )
    root = df.parent
    runtime = (root / "requirements.txt").read_text().splitlines()
    assert runtime == sorted(RUNTIME_REQUIREMENTS)  # no scikit-learn / SciPy / skops
    framework = (root / "requirements-framework.txt").read_text().splitlines()
    assert framework == sorted(framework_requirements("sklearn", False))
    assert (root / "mlinfra/serving/compiled/program.py").is_file()  # the evaluator ships
    [run] = _compile_run_lines(df.read_text())
    assert '-m mlinfra.serving.compiled "/opt/model/m.skops" --trusted-pickle' in run
    final_stage = df.read_text().split("\nFROM ", 2)[2]
    assert "requirements-framework" not in final_stage
    assert "/opt/compile" not in final_stage

    # a model fetched at start-up cannot be compiled: today's image, framework included
    fetched = write_build_context(
        tmp_path / "f",
        service="fraud",
        model_uri="s3://a/m.skops",
        framework="sklearn",
        gpu=False,
    )
    assert not (fetched.parent / "requirements-framework.txt").exists()
    assert "mlinfra.serving.compiled" not in fetched.read_text()
    assert "scikit-learn==1.9.1" in (fetched.parent / "requirements.txt").read_text()


def test_a_compiled_model_fetched_at_start_needs_no_framework_in_the_image(tmp_path: Path) -> None:
    """Compiled ahead of time (`python -m mlinfra.serving.compiled`) and uploaded: the image that
    fetches it carries the runtime alone, like a baked compiled model, and compiles nothing."""
    df = write_build_context(
        tmp_path / "f",
        service="fraud",
        model_uri="s3://a/m.skops.mlinfra.npz",
        framework=infer_framework("s3://a/m.skops.mlinfra.npz") or "",
        gpu=False,
        model_sha256=SHA,
    )
    reqs = (df.parent / "requirements.txt").read_text().splitlines()
    assert reqs == sorted(RUNTIME_REQUIREMENTS)  # no framework, and no boto3 for S3 either
    assert not (df.parent / "requirements-framework.txt").exists()
    assert "mlinfra.serving.compiled" not in df.read_text()


@pytest.mark.parametrize(("exit_code", "installs"), [(0, False), (3, True), (2, None)])
def test_compile_step_installs_the_framework_only_when_not_compiled(
    tmp_path: Path, exit_code: int, installs: bool | None
) -> None:
    """The build stage's own shell text, run by /bin/sh -eu (as the Dockerfile's SHELL):
    exit 0 -> nothing installed, 3 -> the framework goes into the runtime venv, anything
    else -> the build fails."""
    df = write_build_context(
        tmp_path / "ctx",
        service="fraud",
        model_uri=str(_model(tmp_path)),
        framework="xgboost",
        gpu=False,
        bake_model=True,
    )
    [run] = _compile_run_lines(df.read_text())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "compile $*" >> {log}\nexit {exit_code}\n')
    (bin_dir / "pip").write_text(f'#!/bin/sh\necho "pip $*" >> {log}\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    script = run
    for prefix in ("/opt/compile/bin/", "/opt/pip/bin/", "/opt/venv/bin/"):
        script = script.replace(prefix, f"{bin_dir}/")
    result = subprocess.run(["/bin/sh", "-eu", "-c", script], capture_output=True, text=True)
    calls = log.read_text().splitlines()
    assert calls[0].startswith("compile -m mlinfra.serving.compiled")
    if installs is None:
        assert result.returncode == exit_code
        assert len(calls) == 1
    else:
        assert result.returncode == 0, result.stderr
        assert (
            calls[1:]
            == [
                f"pip --python {bin_dir}/python install --no-cache-dir --disable-pip-version-check "
                "-r requirements-framework.txt"
            ]
        ) is installs


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "model.ubj"
    model.write_bytes(b"x")
    return model


def test_apt_steps_leave_no_package_lists_or_caches(tmp_path: Path) -> None:
    """On a base without Docker's apt clean-up hook (the debootstrapped one of bench/image.sh)
    the LightGBM image kept apt's package caches (old code: 180.5 MB above the base against
    102 MB for the other compiled images)."""
    text = write_build_context(
        tmp_path / "ctx", service="rank", model_uri="s3://a/r/m.txt", framework="lightgbm", gpu=False, model_sha256=SHA
    ).read_text()
    apt_runs = [block for block in text.split("\nRUN ") if block.startswith("apt-get update")]
    assert apt_runs
    for block in apt_runs:
        cleanup = block.split("&& rm -rf ", 1)[1].split("\n", 1)[0].split()
        assert {"/var/lib/apt/lists/*", "/var/cache/apt/*.bin", "/var/cache/apt/archives/*.deb"} <= set(cleanup)


def test_held_out_sample_beside_the_model_is_verified_on_in_the_build_stage_only(tmp_path: Path) -> None:
    model = tmp_path / "m.skops"
    model.write_bytes(b"model-bytes")
    (tmp_path / "m.skops.sample.npy").write_bytes(b"rows")
    df = write_build_context(
        tmp_path / "ctx", service="fraud", model_uri=str(model), framework="sklearn", gpu=False, bake_model=True
    )
    text = df.read_text()
    assert (df.parent / "sample/m.skops.sample.npy").read_bytes() == b"rows"
    [run] = _compile_run_lines(text)
    assert '-m mlinfra.serving.compiled "/opt/model/m.skops" --sample "/opt/compile-sample/m.skops.sample.npy"' in run
    build_stage, final_stage = text.split("\nFROM ", 2)[1:]
    assert "COPY sample/ /opt/compile-sample/\n" in build_stage
    assert "compile-sample" not in final_stage  # verification data never ships

    # without the file (or for a model fetched at start-up) nothing changes
    (tmp_path / "m.skops.sample.npy").unlink()
    plain = write_build_context(
        tmp_path / "p", service="fraud", model_uri=str(model), framework="sklearn", gpu=False, bake_model=True
    )
    assert "--sample" not in plain.read_text()
    assert not (plain.parent / "sample").exists()


def test_cpu_xgboost_image_takes_the_build_without_cuda_at_the_gpu_images_version() -> None:
    # xgboost's default linux wheel pulls nvidia-nccl; a CPU image has no use for it.
    (cpu,) = framework_requirements("xgboost", False)
    (gpu,) = framework_requirements("xgboost", True)
    assert cpu.split("==")[0] == "xgboost-cpu"
    assert gpu.split("==")[0] == "xgboost"
    assert cpu.split("==")[1] == gpu.split("==")[1]
