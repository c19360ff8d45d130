"""Build-context generation (minimal interim version until the serving runtime lands)."""

from mlinfra.image.context import write_build_context

__all__ = ["write_build_context"]
