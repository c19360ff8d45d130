"""A faster raw-prediction routine for scikit-learn HistGradientBoosting models.

Why: sklearn's `predict` walks its trees one Python call per tree (about 7 us each), so a
100-tree model costs ~0.75 ms per call even for one row, more than the whole HTTP
round-trip. Here all trees are walked together, one level per numpy step, which gives the
same leaves and therefore the same numbers: leaf values are summed in sklearn's order
(baseline, then tree by tree) with a sequential cumulative sum, so results are bit-identical.

Safety: this reads sklearn's internal tree arrays. It is used only when the model passes a
self-check at load time (exact equality with sklearn's own raw predictions on probe rows built
around every split threshold); otherwise, or for anything it does not cover (categorical
splits), the model keeps sklearn's own predict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger("mlinfra.serving.hgb_fastpath")

RawPredict = Callable[..., np.ndarray]


class _Forest:
    def __init__(self, estimator: Any) -> None:
        trees = [p.nodes for per_iteration in estimator._predictors for p in per_iteration]
        self.k = int(estimator.n_trees_per_iteration_)
        self.n_trees = len(trees)
        sizes = np.array([len(t) for t in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate(trees)
        owner_offset = np.repeat(offsets, sizes)
        leaf = nodes["is_leaf"].astype(bool)
        own = np.arange(len(nodes))
        left = np.where(leaf, own, nodes["left"].astype(np.int64) + owner_offset)
        right = np.where(leaf, own, nodes["right"].astype(np.int64) + owner_offset)
        # children[2 * node + went_right]; a leaf points at itself both ways, so walking a
        # fixed number of levels is harmless for trees that end early.
        self.children = np.stack([left, right], axis=1).ravel()
        self.feature = np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.value = nodes["value"].astype(np.float64)
        self.roots = offsets.astype(np.int64)
        self.depth = int(nodes["depth"].max())
        self.baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64)

    def raw_predict(self, x: np.ndarray, n_threads: int | None = None) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        n, width = x.shape
        flat = x.ravel()
        row_start = (np.arange(n, dtype=np.intp) * width)[:, None]
        node = np.broadcast_to(self.roots, (n, self.n_trees)).copy()
        has_nan = bool(np.isnan(flat).any())  # checked once: per level only if needed
        for _ in range(self.depth):
            xv = flat[row_start + self.feature[node]]
            went_right = xv > self.threshold[node]
            if has_nan:
                missing = np.isnan(xv)
                went_right[missing] = ~self.missing_left[node[missing]]
            node = self.children[2 * node + went_right]
        values = self.value[node]  # (n, iterations * k), iteration-major like sklearn
        raw = np.empty((n, self.k), dtype=np.float64, order="F")
        for k in range(self.k):
            terms = np.concatenate([np.broadcast_to(self.baseline[:, k], (n, 1)), values[:, k :: self.k]], axis=1)
            raw[:, k] = np.cumsum(terms, axis=1)[:, -1]
        return raw


def _probe_rows(forest: _Forest, n_features: int, seed: int = 0) -> np.ndarray:
    """Rows whose values sit on, just below and just above real split thresholds (where a
    wrong comparison would show), mixed with values drawn across each feature's range."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((512, n_features))
    for f in range(n_features):
        thr = forest.threshold[(forest.feature == f) & np.isfinite(forest.threshold)]
        if thr.size == 0:
            rows[:, f] = rng.normal(size=len(rows))
            continue
        picks = rng.choice(thr, size=len(rows))
        nudge = rng.choice([-1.0, 0.0, 1.0], size=len(rows))
        rows[:, f] = np.nextafter(picks, picks + nudge)
    return rows


def install(estimator: Any) -> bool:
    """Swap in the fast raw-prediction routine if, and only if, it matches sklearn exactly.
    sklearn's own `predict` / `predict_proba` then run unchanged on top of it."""
    name = type(estimator).__name__
    if name not in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
        return False
    try:
        if getattr(estimator, "is_categorical_", None) is not None:
            return False  # categorical splits use bitsets this routine does not implement
        forest = _Forest(estimator)
        probe = _probe_rows(forest, int(estimator.n_features_in_))
        expected = estimator._raw_predict(probe)
        if not np.array_equal(forest.raw_predict(probe), expected):
            log.warning("fast tree path disagrees with scikit-learn; using sklearn's predict")
            return False
    except Exception as exc:  # any surprise in the internals: keep sklearn's own path
        log.warning("fast tree path unavailable: %s", exc)
        return False
    # An instance attribute shadows the method for this one loaded model only.
    estimator._raw_predict = forest.raw_predict
    return True
