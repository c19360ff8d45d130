"""Default base images (pinned by digest) and what each kind of base needs installed.

Digests are of the multi-arch index / amd64 manifest as published when they were pinned;
refresh them deliberately (e.g. `crane digest python:3.11-slim-bookworm`), never by tag.
"""

from __future__ import annotations

from dataclasses import dataclass

CPU_BASE = "python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b"
GPU_BASE = (
    "nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04"
    "@sha256:ac55d124da4882b497f732d8dfd9a702d5447a5f29d08d56da6f64f0a1eb34bc"
)


@dataclass(frozen=True)
class BaseKind:
    """Debian packages (pinned) the build and runtime stages add to the base."""

    build_packages: tuple[str, ...]
    runtime_packages: tuple[str, ...]
    libgomp: str  # LightGBM's PyPI wheel links the system OpenMP runtime


# Debian bookworm with Python 3.11 (python:3.11-slim-bookworm, or any bookworm + python3).
DEBIAN = BaseKind(build_packages=(), runtime_packages=(), libgomp="libgomp1=12.2.0-14+deb12u1")
# The CUDA runtime images carry no Python: Ubuntu 24.04's python3 (3.12) is installed.
CUDA_UBUNTU = BaseKind(
    build_packages=("python3=3.12.3-0ubuntu2.1", "python3-venv=3.12.3-0ubuntu2.1"),
    runtime_packages=("python3=3.12.3-0ubuntu2.1",),
    libgomp="libgomp1=14.2.0-4ubuntu2~24.04.1",
)


def base_kind(gpu: bool) -> BaseKind:
    return CUDA_UBUNTU if gpu else DEBIAN
