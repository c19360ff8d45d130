"""Compatibility home of the SDK's errors: they live in `mlinfra.errors` now."""

from __future__ import annotations

from mlinfra.errors import MAX_MESSAGE, MAX_VALUE, MISSING, MlinfraError, Problem, SpecError, excerpt

__all__ = ["MAX_MESSAGE", "MAX_VALUE", "MISSING", "MlinfraError", "Problem", "SpecError", "excerpt"]
