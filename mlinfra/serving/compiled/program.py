"""A compiled model at run time: the header's `steps` (preprocessing + model, giving the
scores) followed by its `head` (scores -> what the framework's predict returns)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from mlinfra.serving.compiled import artifact
from mlinfra.serving.compiled.steps import OPS, Op

log = logging.getLogger("mlinfra.serving.compiled")

WARMUP_ROW = "warmup.row"  # a verified input row (1 x n_features), written by the compiler


class CompiledModel:
    def __init__(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.header = header
        self.n_features = int(header["n_features"])
        self.input_dtype = np.dtype(header["input_dtype"])
        self.source = header["source"]
        self.warmup_row = arrays.get(WARMUP_ROW)
        self._steps = [_build(spec, arrays) for spec in header["steps"]]
        self._head = [_build(spec, arrays) for spec in header["head"]]

    def scores(self, x: np.ndarray) -> np.ndarray:
        """The numbers the framework's prediction is derived from (decision function,
        probabilities or raw margin), before the head."""
        for step in self._steps:
            x = step(x)
        return x

    def predict(self, x: np.ndarray) -> np.ndarray:
        out = self.scores(x)
        for step in self._head:
            out = step(out)
        return out


def _build(spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> Op:
    factory = OPS.get(spec["op"])
    if factory is None:
        raise ValueError(f"unknown op {spec['op']!r}; this runtime knows {', '.join(OPS)}")
    return factory(spec, arrays)


def load(path: Path) -> CompiledModel:
    header, arrays = artifact.read(path)
    return CompiledModel(header, arrays)


def load_sidecar(model_path: Path) -> CompiledModel | None:
    """The compiled form of `model_path` if one was written for exactly this file (same
    sha256); None otherwise, and the caller keeps the framework's own path. A sidecar that
    is stale, from another format version or unreadable is reported and ignored."""
    path = artifact.sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        model = load(path)
        want = model.source["sha256"]
        got = artifact.file_sha256(model_path)
        if want != got:
            raise ValueError(f"compiled from a file with sha256 {want}, the model has {got}")
    except Exception as exc:  # never fatal: the framework path still serves the model
        log.warning(
            "compiled model ignored; using the framework",
            extra={"fields": {"file": path.name, "reason": str(exc)}},
        )
        return None
    return model
