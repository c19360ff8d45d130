"""Which framework a model file belongs to, decided from its extension.

Shared by the runtime, the image generator (which re-exports `infer_framework`) and the SDK's
`ServiceSpec`, so a declaration is accepted exactly when the image and the runtime can serve
it. The tables themselves are part of the runtime contract (`contract.py`).
"""

from __future__ import annotations

import urllib.parse
from pathlib import PurePosixPath

from mlinfra.serving.contract import EXTENSIONS, FRAMEWORKS, PICKLE_EXTENSIONS

__all__ = ["EXTENSIONS", "FRAMEWORKS", "PICKLE_EXTENSIONS", "infer_framework", "is_pickle"]


# Longest first: `x.skops.mlinfra.npz` is a compiled model, not an `.npz`.
_LONGEST_FIRST = sorted(EXTENSIONS, key=len, reverse=True)


def _suffix(model_uri: str) -> str:
    parsed = urllib.parse.urlparse(model_uri)
    name = PurePosixPath(parsed.path if parsed.scheme else model_uri).name.lower()
    for ext in _LONGEST_FIRST:
        if name.endswith(ext):
            return ext
    return PurePosixPath(name).suffix


def infer_framework(model_uri: str) -> str | None:
    """The framework for a model URI or path by its extension; None if unknown."""
    return EXTENSIONS.get(_suffix(model_uri))


def is_pickle(model_uri: str) -> bool:
    """True when loading the file would unpickle it (joblib / pickle)."""
    return _suffix(model_uri) in PICKLE_EXTENSIONS
