"""Plain-Python "models" for the trusted-pickle path and for overload tests. Importable by
the server process (tests put this folder on its PYTHONPATH)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np


class SlowModel:
    """predict() sleeps `delay` seconds per call and returns each row's sum."""

    def __init__(self, delay: float, n_features: int) -> None:
        self.delay = delay
        self.n_features_in_ = n_features

    def predict(self, x: np.ndarray) -> np.ndarray:
        time.sleep(self.delay)
        return np.asarray(x).sum(axis=1)


class SlowToLoad(SlowModel):
    """Sleeps while being unpickled, to observe /ready during a long model load."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        time.sleep(state.get("load_delay", 0.0))
        self.__dict__.update(state)


class Exploit:
    """Unpickling this creates a marker file: stands for code execution from a model file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.touch, (Path(self.marker),))


def slow_to_load(delay: float, load_delay: float, n_features: int) -> SlowToLoad:
    model = SlowToLoad(delay, n_features)
    model.load_delay = load_delay  # type: ignore[attr-defined]
    return model


class PerRowModel:
    """predict() costs `per_row` seconds per row (a sleep, so it also blocks the thread that
    runs it) and returns each row's sum: cheap for one row, long for a big request."""

    def __init__(self, per_row: float, n_features: int) -> None:
        self.per_row = per_row
        self.n_features_in_ = n_features

    def predict(self, x: np.ndarray) -> np.ndarray:
        time.sleep(self.per_row * len(x))
        return np.asarray(x).sum(axis=1)


class WrongRows(SlowModel):
    """A model bug: one row fewer than asked for."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x).sum(axis=1)[:-1]


class Raises(SlowModel):
    """A model bug: raises ValueError from inside the model call."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        raise ValueError("internal shape bug in the model")
