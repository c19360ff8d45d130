"""The default base image (pinned by digest) and what a base needs installed.

Digests are of the multi-arch index / amd64 manifest as published when they were pinned;
refresh them deliberately (e.g. `crane digest python:3.11-slim-bookworm`), never by tag.

GPU images use the same slim Python base: each GPU framework's PyPI wheels bring their own
CUDA user-space libraries (torch 2.13.0: the `cuda-toolkit` 13.0 and `nvidia-*-cu13` wheels;
xgboost 3.2.0: CUDA linked in, `nvidia-nccl-cu12`; onnxruntime-gpu 1.31.1 with its `cuda`
and `cudnn` extras: the CUDA 13 runtime and cuDNN 9 wheels), so a CUDA base image would be a
second copy (and, at CUDA 12.8, another major version than these wheels load). The node's
NVIDIA container runtime mounts the driver; it must support CUDA 13 for torch and onnx.
"""

from __future__ import annotations

from dataclasses import dataclass

CPU_BASE = "python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b"


@dataclass(frozen=True)
class BaseKind:
    """Debian packages (pinned) the build and runtime stages add to the base."""

    build_packages: tuple[str, ...]
    runtime_packages: tuple[str, ...]
    libgomp: str  # LightGBM's PyPI wheel links the system OpenMP runtime


# Debian bookworm with Python 3.11 (python:3.11-slim-bookworm, or any bookworm + python3).
DEBIAN = BaseKind(build_packages=(), runtime_packages=(), libgomp="libgomp1=12.2.0-14+deb12u1")


def base_kind() -> BaseKind:
    return DEBIAN
