"""The compiled-model file: one `.npz` (no pickles) holding named arrays and a JSON header.

The header says what produced it (`source`: file name, sha256, framework, model type), the
format version, the input width and dtype, and the program (`steps`) the runtime runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mlinfra.serving.contract import COMPILED_SUFFIX

log = logging.getLogger("mlinfra.serving.compiled")

FORMAT = "mlinfra-compiled"
VERSION = 1
_HEADER_KEY = "__header__"


def sidecar_path(model_path: Path) -> Path:
    """Where the compiled form of `model_path` lives: next to it, same name + suffix."""
    return model_path.with_name(model_path.name + COMPILED_SUFFIX)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Write atomically (temp file + rename) so a half-written file is never picked up."""
    if _HEADER_KEY in arrays:
        raise ValueError(f"array name {_HEADER_KEY!r} is reserved")
    blob = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".compiled-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            payload: Any = {_HEADER_KEY: blob, **arrays}
            np.savez(fh, **payload)
        # mkstemp makes the file 0600 for the build stage's root; the runtime reads it as UID
        # 10001 in the final image, like the model file beside it (0644, nothing secret).
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Header and arrays; refuses object arrays (allow_pickle=False) and other formats."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    blob = arrays.pop(_HEADER_KEY, None)
    if blob is None:
        raise ValueError(f"{path.name}: no {_HEADER_KEY} entry")
    header = json.loads(blob.tobytes().decode())
    if header.get("format") != FORMAT:
        raise ValueError(f"{path.name}: format {header.get('format')!r}, expected {FORMAT!r}")
    if header.get("version") != VERSION:
        raise ValueError(f"{path.name}: format version {header.get('version')!r}; this runtime reads {VERSION}")
    return header, arrays
