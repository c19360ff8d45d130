"""Which frameworks the build-time compiler knows (shared by the image generator, which
compiles baked models of these frameworks, and by the converter)."""

from __future__ import annotations

COMPILABLE_FRAMEWORKS = ("sklearn", "xgboost", "lightgbm")
