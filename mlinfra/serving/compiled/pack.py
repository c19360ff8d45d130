"""Build time: lay out the nodes of many trees in the one table `trees.TreeEnsemble` walks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Tree:
    """One tree in its framework's local numbering; `left`/`right` are -1 at leaves."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    nan_left: np.ndarray
    value: np.ndarray  # per node: a scalar, or a vector (scikit-learn classifiers)
    output: int = 0  # which output column the tree adds to
    nan_to_zero: np.ndarray | None = None  # LightGBM missing-type rules, per node
    zero_missing: np.ndarray | None = None


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    depth = np.zeros(len(left), dtype=np.int64)
    stack = [0]
    while stack:
        node = stack.pop()
        for child in (left[node], right[node]):
            if child >= 0:
                depth[child] = depth[node] + 1
                stack.append(int(child))
    return int(depth.max())


def pack(
    trees: list[Tree],
    prefix: str,
    *,
    cast: str,
    compare: str,
    accumulate: str,
    init: np.ndarray,
    threshold_dtype: str,
    divide: float | None = None,
    lightgbm_missing: bool = False,
) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    sizes = np.array([len(t.left) for t in trees])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    left = np.concatenate([t.left for t in trees]).astype(np.int64)
    right = np.concatenate([t.right for t in trees]).astype(np.int64)
    owner = np.repeat(offsets, sizes)
    leaf = left < 0
    own = np.arange(len(left))
    left = np.where(leaf, own, left + owner)
    right = np.where(leaf, own, right + owner)
    feature = np.where(leaf, 0, np.concatenate([t.feature for t in trees])).astype(np.int32)
    threshold = np.where(leaf, 0, np.concatenate([t.threshold for t in trees]))
    arrays: dict[str, np.ndarray] = {
        "feature": feature,
        "threshold": threshold.astype(threshold_dtype),
        "children": np.stack([left, right], axis=1).ravel().astype(np.int32),
        "nan_right": ~np.concatenate([t.nan_left for t in trees]).astype(bool),
        "is_leaf": leaf,
        "value": np.concatenate([t.value for t in trees]),
        "roots": offsets.astype(np.int32),
        "tree_output": np.array([t.output for t in trees], dtype=np.int32),
        "init": np.asarray(init),
    }
    if lightgbm_missing:
        arrays["nan_to_zero"] = np.concatenate([t.nan_to_zero for t in trees])  # type: ignore[misc]
        arrays["zero_missing"] = np.concatenate([t.zero_missing for t in trees])  # type: ignore[misc]
    spec: dict[str, object] = {
        "op": "trees",
        "prefix": prefix,
        "cast": cast,
        "compare": compare,
        "accumulate": accumulate,
        "depth": max(_depth(t.left, t.right) for t in trees),
        "divide": divide,
        "lightgbm_missing": lightgbm_missing,
    }
    return spec, {f"{prefix}.{k}": v for k, v in arrays.items()}
