"""Compatibility home of the SDK's errors: they live in `mlinfra.errors` now."""

from __future__ import annotations

from mlinfra.errors import MISSING, MlinfraError, Problem, SpecError

__all__ = ["MISSING", "MlinfraError", "Problem", "SpecError"]
