"""Which framework a model file belongs to, decided from its extension.

Shared by the runtime and the image generator (which re-exports `infer_framework`), so the
image installs exactly the framework the runtime will pick.
"""

from __future__ import annotations

import urllib.parse
from pathlib import PurePosixPath

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "onnx", "torchscript")

# `.json` is claimed by XGBoost: it is XGBoost's documented JSON model format, while
# LightGBM's own JSON dump cannot be loaded back as a model. LightGBM's text model
# (`.txt`, `.lgb`) is the format `Booster.save_model` writes.
EXTENSIONS: dict[str, str] = {
    ".skops": "sklearn",
    ".joblib": "sklearn",
    ".pkl": "sklearn",
    ".pickle": "sklearn",
    ".ubj": "xgboost",
    ".json": "xgboost",
    ".xgb": "xgboost",
    ".txt": "lightgbm",
    ".lgb": "lightgbm",
    ".onnx": "onnx",
    ".pt": "torchscript",
    ".pth": "torchscript",
    ".torchscript": "torchscript",
}

# Formats whose loading executes arbitrary code from the file; need an explicit opt-in.
PICKLE_EXTENSIONS = frozenset({".joblib", ".pkl", ".pickle"})


def _suffix(model_uri: str) -> str:
    parsed = urllib.parse.urlparse(model_uri)
    path = parsed.path if parsed.scheme else model_uri
    return PurePosixPath(path).suffix.lower()


def infer_framework(model_uri: str) -> str | None:
    """The framework for a model URI or path by its extension; None if unknown."""
    return EXTENSIONS.get(_suffix(model_uri))


def is_pickle(model_uri: str) -> bool:
    """True when loading the file would unpickle it (joblib / pickle)."""
    return _suffix(model_uri) in PICKLE_EXTENSIONS
