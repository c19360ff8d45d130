"""All trees of an ensemble walked together, one tree level per numpy step.

One node table for every tree of the model (children indices are global; a leaf points at
itself both ways, so walking a fixed number of levels is harmless for trees that end
early). What differs between frameworks is data, not code: the dtype the input is cast to
before comparing (`cast`), whether equality goes left (`<=`, scikit-learn and LightGBM) or
right (`<`, XGBoost), where a missing value goes (`nan_right`, per node) and LightGBM's
missing-as-zero rules. Leaf values are summed per output in the framework's own order
(init first, then tree by tree) with a sequential cumulative sum in the framework's own
accumulator dtype, so the sums are bit-identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# LightGBM's kZeroThreshold (a float literal, compared as double)
_LGB_ZERO = float(np.float32(1e-35))


class TreeEnsemble:
    def __init__(self, spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        p = spec["prefix"] + "."
        self.cast = np.dtype(spec["cast"])
        self.acc = np.dtype(spec["accumulate"])
        self.left_on_equal = spec["compare"] == "le"
        self.depth = int(spec["depth"])
        self.divide = spec.get("divide")
        self.feature = arrays[p + "feature"].astype(np.intp)
        self.threshold = arrays[p + "threshold"]
        self.children = arrays[p + "children"].astype(np.intp)
        self.nan_right = arrays[p + "nan_right"].astype(bool)
        self.is_leaf = arrays[p + "is_leaf"].astype(bool)
        self.value = arrays[p + "value"]
        self.roots = arrays[p + "roots"].astype(np.intp)
        self.init = arrays[p + "init"].astype(self.acc)
        tree_output = arrays[p + "tree_output"].astype(np.intp)
        self.n_outputs = int(self.init.shape[0])
        self.vector_leaves = self.value.ndim == 2
        self.per_output = [np.flatnonzero(tree_output == k) for k in range(self.n_outputs)]
        self.lgb = bool(spec.get("lightgbm_missing", False))
        if self.lgb:
            self.nan_to_zero = arrays[p + "nan_to_zero"].astype(bool)
            self.zero_missing = arrays[p + "zero_missing"].astype(bool)
        n_nodes = len(self.feature)
        if not (
            len(self.threshold) == len(self.nan_right) == len(self.is_leaf) == n_nodes
            and len(self.children) == 2 * n_nodes
            and len(self.value) == n_nodes
            and self.children.min() >= 0
            and self.children.max() < n_nodes
            and self.roots.min() >= 0
            and self.roots.max() < n_nodes
        ):
            raise ValueError("inconsistent tree arrays")
        # The walk's state is 2 * node, so one gather of `_child2[state + went_right]` moves
        # every (row, tree) pair down a level (no multiply, no separate add per level); the
        # node's feature and threshold are laid out twice to be read at the same index.
        self._feature2 = np.repeat(self.feature, 2)
        self._threshold2 = np.repeat(self.threshold, 2)
        self._is_leaf2 = np.repeat(self.is_leaf, 2)
        self._child2 = 2 * self.children
        self._root2 = 2 * self.roots
        # LightGBM's zero-as-missing rule needs the node-by-node path only where a node has it.
        self._any_zero_missing = bool(self.lgb and self.zero_missing.any())

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """(rows, trees) index of the leaf each row reaches in each tree."""
        xc = np.ascontiguousarray(x, dtype=self.cast)
        n, width = xc.shape
        if self.feature.max(initial=0) >= width:
            raise ValueError(f"model reads feature {self.feature.max()}, input has {width}")
        flat = xc.ravel()
        if self.lgb:
            # LightGBM reads a dense row as sparse: |x| <= kZeroThreshold is not stored, so
            # the trees see exactly 0.0 for it
            flat = np.where(np.abs(flat) <= _LGB_ZERO, 0.0, flat)
        row_start = (np.arange(n, dtype=np.intp) * width)[:, None]
        has_nan = bool(np.isnan(flat).any())  # checked once: per level only if needed
        if not has_nan and not self._any_zero_missing:
            return self._plain_walk(flat, row_start if n > 1 else None, n)
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        for level in range(self.depth):
            xv = flat[row_start + self.feature[node]]
            if self.lgb:
                went_right = self._lightgbm_step(xv, node, has_nan)
            else:
                thr = self.threshold[node]
                went_right = (xv > thr) if self.left_on_equal else (xv >= thr)
                if has_nan:
                    missing = np.isnan(xv)
                    went_right[missing] = self.nan_right[node[missing]]
            node = self.children[2 * node + went_right]
            if level % 4 == 3 and self.is_leaf[node].all():
                break
        return node

    def _plain_walk(self, flat: np.ndarray, row_start: np.ndarray | None, n: int) -> np.ndarray:
        """The walk when no value is missing: every node only compares (what `leaves` does per
        level, minus the missing-value rules, which cannot apply).

        Pairs that reached a leaf are dropped from the walk once they are the majority: leaf-wise
        trees (LightGBM, HistGradientBoosting, deep forests) are deep but most paths are short,
        so later levels touch only the few pairs still walking."""
        trees = len(self._root2)
        state = np.tile(self._root2, n)  # (row, tree) pairs, row-major
        base = None if row_start is None else np.repeat(row_start.ravel(), trees)
        done = state  # where finished pairs are written back
        where: np.ndarray | None = None  # positions in `done` of the pairs still walking
        for level in range(self.depth):
            index = self._feature2[state]
            if base is not None:
                index += base
            xv = flat[index]
            thr = self._threshold2[state]
            went_right = (xv > thr) if self.left_on_equal else (xv >= thr)
            state = self._child2[state + went_right]
            if level % 2 == 0 or level + 1 == self.depth:
                continue
            walking = ~self._is_leaf2[state]
            alive = int(np.count_nonzero(walking))
            if alive == 0:
                break
            if 2 * alive < len(state):
                keep = np.flatnonzero(walking)
                if where is None:
                    done, where = state, keep
                else:
                    done[where] = state
                    where = where[keep]
                state = state[keep]
                if base is not None:
                    base = base[keep]
        if where is None:
            done = state
        else:
            done[where] = state
        return (done >> 1).reshape(n, trees)

    def _lightgbm_step(self, xv: np.ndarray, node: np.ndarray, has_nan: bool) -> np.ndarray:
        # LightGBM Tree::NumericalDecision: NaN becomes 0.0 unless the node's missing type
        # is NaN; missing values (NaN, or ~0 for missing type Zero) take the default side.
        default = np.zeros(xv.shape, dtype=bool)
        if has_nan:
            nan = np.isnan(xv)
            to_zero = nan & self.nan_to_zero[node]
            xv = np.where(to_zero, 0.0, xv)
            default |= nan & ~to_zero
        zero = self.zero_missing[node]
        if zero.any():
            default |= zero & (xv >= -_LGB_ZERO) & (xv <= _LGB_ZERO)
        went_right = xv > self.threshold[node]
        went_right[default] = self.nan_right[node[default]]
        return went_right

    def __call__(self, x: np.ndarray) -> np.ndarray:
        node = self.leaves(x)
        n = node.shape[0]
        values = self.value[node]  # (rows, trees) or (rows, trees, classes)
        if self.vector_leaves:
            terms = np.concatenate([np.broadcast_to(self.init, (n, 1, self.n_outputs)), values], axis=1).astype(
                self.acc, copy=False
            )
            out = np.cumsum(terms, axis=1, dtype=self.acc)[:, -1, :]
        else:
            out = np.empty((n, self.n_outputs), dtype=self.acc)
            for k, cols in enumerate(self.per_output):
                # Trees along axis 0: the same sequential sum per row (init, then tree by tree),
                # with numpy's inner loop running over the rows instead of over the trees.
                terms = np.empty((1 + len(cols), n), dtype=self.acc)
                terms[0] = self.init[k]
                terms[1:] = values[:, cols].T
                out[:, k] = np.cumsum(terms, axis=0, dtype=self.acc)[-1]
        if self.divide is not None:
            out /= self.divide
        return out
