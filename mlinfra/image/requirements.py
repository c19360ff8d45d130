"""Pinned Python requirements of the serving image.

The single source of the runtime pins: `requirements-serving.txt` at the repository root
mirrors RUNTIME_REQUIREMENTS (a test keeps the two equal).
"""

from __future__ import annotations

from mlinfra.serving.frameworks import FRAMEWORKS

RUNTIME_REQUIREMENTS = (
    "httptools==0.9.0",
    "numpy==2.4.6",
    "orjson==3.13.0",
    "prometheus-client==0.26.0",
    "pydantic==2.14.3",
    "pydantic-settings==2.16.3",
    "uvloop==0.23.0",
)

_CPU: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn==1.9.1", "skops==0.16.0"),
    # xgboost's own linux wheel carries CUDA code and pulls NCCL (~300 MB, bench/image.sh);
    # xgboost-cpu is the same release built without them, importable as `xgboost`.
    "xgboost": ("xgboost-cpu==3.2.0",),
    "lightgbm": ("lightgbm==4.7.0",),
    "onnx": ("onnxruntime==1.31.1",),
    "torchscript": ("torch==2.13.0",),
    # Compiled ahead of time: the runtime's numpy is all it needs.
    "compiled": (),
}

# GPU images: the same versions, with the CUDA builds where a framework has one. PyPI's
# xgboost and torch wheels for linux x86_64 already carry CUDA support (and pull its
# libraries as wheels); onnxruntime's CUDA build is a separate distribution whose `cuda` and
# `cudnn` extras bring the CUDA runtime and cuDNN it was built against, so the image needs no
# CUDA base. scikit-learn and LightGBM (PyPI wheel) run on the CPU.
_GPU: dict[str, tuple[str, ...]] = {
    **_CPU,
    "xgboost": ("xgboost==3.2.0",),
    "onnx": ("onnxruntime-gpu[cuda,cudnn]==1.31.1",),
}


def framework_requirements(framework: str, gpu: bool) -> list[str]:
    """Pinned requirements a model of `framework` needs, CUDA builds when `gpu`."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework {framework!r} unknown; allowed: {', '.join(FRAMEWORKS)}")
    return list((_GPU if gpu else _CPU)[framework])
