"""Build-context generation for a service's serving image."""

from __future__ import annotations

from mlinfra.image.context import build_context_framework, write_build_context
from mlinfra.image.requirements import framework_requirements
from mlinfra.serving.frameworks import infer_framework

__all__ = [
    "build_context_framework",
    "framework_requirements",
    "infer_framework",
    "write_build_context",
]
