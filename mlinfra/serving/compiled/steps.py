"""The operations a compiled program is made of (numpy and the standard library only).

Each op repeats the framework's own arithmetic in the framework's own order and dtype, which
is what makes bit-identical results possible; the build-time check proves it per model.
Where a framework calls the C library's `exp`/`expf` (LightGBM, XGBoost), so does the op
(`math.exp`, `expf` through ctypes): numpy's vectorised exp may round differently.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mlinfra.serving.compiled.trees import TreeEnsemble
from mlinfra.serving.errors import InvalidInput

Op = Callable[[np.ndarray], np.ndarray]
Arrays = dict[str, np.ndarray]


class UnknownCategory(InvalidInput):
    """A value the fitted encoder does not know, with handle_unknown='error': the caller's
    input, answered 422 (scikit-learn itself raises ValueError)."""


def _arr(arrays: Arrays, spec: dict[str, Any], name: str) -> np.ndarray:
    return arrays[f"{spec['prefix']}.{name}"]


# -- preprocessing (scikit-learn transformers) ------------------------------------------------
def standard_scaler(spec: dict[str, Any], arrays: Arrays) -> Op:
    mean = _arr(arrays, spec, "mean") if spec["with_mean"] else None
    scale = _arr(arrays, spec, "scale") if spec["with_std"] else None

    def op(x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64)  # StandardScaler.transform works on a copy
        if mean is not None:
            x -= mean
        if scale is not None:
            x /= scale
        return x

    return op


def minmax_scaler(spec: dict[str, Any], arrays: Arrays) -> Op:
    scale, offset = _arr(arrays, spec, "scale"), _arr(arrays, spec, "min")
    clip = spec.get("clip")

    def op(x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64)
        x *= scale
        x += offset
        if clip is not None:
            np.clip(x, clip[0], clip[1], out=x)
        return x

    return op


def simple_imputer(spec: dict[str, Any], arrays: Arrays) -> Op:
    """NaN -> the fitted statistic of its column; columns whose statistic is NaN (all
    missing at fit time) are dropped, as scikit-learn does without keep_empty_features."""
    keep = _arr(arrays, spec, "keep").astype(np.intp)
    stats = _arr(arrays, spec, "statistics")

    def op(x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64)[:, keep]
        rows, cols = np.nonzero(np.isnan(x))
        x[rows, cols] = stats[cols]
        return x

    return op


def one_hot_encoder(spec: dict[str, Any], arrays: Arrays) -> Op:
    """scikit-learn OneHotEncoder.transform for numeric categories, densely: a 1 at the
    category's column of each input column's block, none for a dropped category, and for an
    unknown value either none (handle_unknown ignore / infrequent_if_exist / warn, which all
    encode it as zeros when no category is infrequent) or a rejected request (error)."""
    n = int(spec["n_features"])
    cats = [_arr(arrays, spec, f"categories{i}") for i in range(n)]
    nan_known = [bool(c.size) and bool(np.isnan(c[-1])) for c in cats]
    finite = [c[:-1] if has_nan else c for c, has_nan in zip(cats, nan_known, strict=True)]
    drop = spec["drop"]
    widths = [len(c) - (d is not None) for c, d in zip(cats, drop, strict=True)]
    offsets = np.cumsum([0, *widths])
    reject_unknown = spec["handle_unknown"] == "error"
    dtype = np.dtype(spec["dtype"])

    def op(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        rows = np.arange(len(x))
        out = np.zeros((len(x), int(offsets[-1])), dtype=dtype)
        for i in range(n):
            col, known_values = x[:, i], finite[i]
            idx = np.searchsorted(known_values, col)
            known = np.zeros(len(col), dtype=bool)
            if known_values.size:
                known = known_values[np.minimum(idx, known_values.size - 1)] == col
            if nan_known[i]:
                missing = np.isnan(col)
                idx = np.where(missing, known_values.size, idx)
                known |= missing
            if reject_unknown and not known.all():
                bad = np.unique(col[~known])
                raise UnknownCategory(
                    f"column {i}: unknown categories {bad[:5].tolist()} (known: {cats[i][:10].tolist()})"
                )
            if drop[i] is not None:
                known &= idx != drop[i]
                idx = np.where(idx > drop[i], idx - 1, idx)
            out[rows[known], offsets[i] + idx[known]] = 1
        return out

    return op


# -- models -------------------------------------------------------------------------------------
def linear(spec: dict[str, Any], arrays: Arrays) -> Op:
    """`X @ coef.T + intercept` exactly as scikit-learn's linear models compute it (numpy's
    matmul on the same shapes and memory layout; np.load keeps Fortran order). After a step
    whose scikit-learn output is sparse (`sparse_input`), SciPy's CSR product instead: one
    double per output, the row's values times coef added in column order, from 0."""
    coef = _arr(arrays, spec, "coef")
    intercept = _arr(arrays, spec, "intercept")
    coef_t = coef.T if coef.ndim == 2 else coef
    if spec.get("sparse_input"):
        coef_2d = coef_t.reshape(coef_t.shape[0], -1)

        def sparse_op(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=np.float64)
            acc = np.zeros((len(x), coef_2d.shape[1]))
            for j in range(coef_2d.shape[0]):
                # a zero entry of x is absent from the CSR row: adding its +-0 product
                # leaves every nonzero sum as it is; an all-zero row stays +0 as in SciPy
                hit = x[:, j] != 0
                if hit.any():
                    acc[hit] += x[hit, j : j + 1] * coef_2d[j]
            scores = (acc.ravel() if coef_t.ndim == 1 else acc) + intercept
            return scores.reshape(-1, 1) if scores.ndim == 1 else scores

        return sparse_op

    def op(x: np.ndarray) -> np.ndarray:
        scores = np.asarray(x, dtype=np.float64) @ coef_t + intercept
        return scores.reshape(-1, 1) if scores.ndim == 1 else scores

    return op


def trees(spec: dict[str, Any], arrays: Arrays) -> Op:
    return TreeEnsemble(spec, arrays)


# -- heads: scores -> what the framework's predict returns -------------------------------------
def labels(spec: dict[str, Any], arrays: Arrays) -> Op:
    """Classifier labels: one score column -> sign test (`> 0` or `>= 0`, as the estimator
    does it), several -> argmax (first maximum, like np.argmax)."""
    classes = _arr(arrays, spec, "classes")
    inclusive = spec["binary_rule"] == ">="

    def op(scores: np.ndarray) -> np.ndarray:
        if scores.shape[1] == 1:
            s = scores[:, 0]
            idx = (s >= 0) if inclusive else (s > 0)
            return classes[idx.astype(np.intp)]
        return classes.take(np.argmax(scores, axis=1), axis=0)

    return op


def ravel(_spec: dict[str, Any], _arrays: Arrays) -> Op:
    return lambda s: s.ravel() if s.shape[1] == 1 else s


def exp(_spec: dict[str, Any], _arrays: Arrays) -> Op:
    return np.exp  # scikit-learn's LogLink.inverse is numpy's exp


def _math_exp(v: float) -> float:
    try:
        return math.exp(v)
    except OverflowError:
        return math.inf


def lightgbm_sigmoid(spec: dict[str, Any], _arrays: Arrays) -> Op:
    """LightGBM BinaryLogloss::ConvertOutput: 1 / (1 + exp(-sigmoid * raw)) in double."""
    sigmoid = float(spec["sigmoid"])

    def op(s: np.ndarray) -> np.ndarray:
        # Only exp is the C library's, one value at a time; the multiply, add and divide are
        # the same IEEE double operations vectorised.
        t = (-sigmoid) * s.ravel().astype(np.float64)
        e = np.fromiter(map(_math_exp, t.tolist()), dtype=np.float64, count=t.size)
        return 1.0 / (1.0 + e)

    return op


def lightgbm_softmax(_spec: dict[str, Any], _arrays: Arrays) -> Op:
    """LightGBM Common::Softmax per row: exp(v - max), summed in order, then divided."""

    def op(s: np.ndarray) -> np.ndarray:
        out = np.empty_like(s, dtype=np.float64)
        for i, row in enumerate(s.tolist()):
            top = max(row)
            e = [_math_exp(v - top) for v in row]
            total = 0.0
            for v in e:
                total += v
            out[i] = [v / total for v in e]
        return out

    return op


_libm: Any = None


def _expf() -> Callable[[float], float]:
    global _libm
    if _libm is None:
        _libm = ctypes.CDLL("libm.so.6")
        _libm.expf.restype = ctypes.c_float
        _libm.expf.argtypes = [ctypes.c_float]
    return _libm.expf  # type: ignore[no-any-return]


def xgboost_sigmoid(_spec: dict[str, Any], _arrays: Arrays) -> Op:
    """XGBoost common::Sigmoid(float): 1 / (expf(min(-x, 88.7)) + 1 + 1e-16), all float32."""
    expf = _expf()
    one, eps, cap = np.float32(1.0), np.float32(1e-16), np.float32(88.7)

    def op(s: np.ndarray) -> np.ndarray:
        # Only expf is the C library's, one value at a time; negation, min, add and divide are
        # the same IEEE float32 operations vectorised.
        t = np.minimum(-s.astype(np.float32).ravel(), cap)
        e = np.fromiter(map(expf, t.tolist()), dtype=np.float32, count=t.size)
        return one / ((e + one) + eps)

    return op


def xgboost_softmax(_spec: dict[str, Any], _arrays: Arrays) -> Op:
    """XGBoost common::Softmax per row: expf(v - max) in float32, summed in a double,
    each divided by the float32 of that sum."""
    expf = _expf()

    def op(s: np.ndarray) -> np.ndarray:
        s32 = s.astype(np.float32)
        out = np.empty_like(s32)
        for i in range(s32.shape[0]):
            row = s32[i]
            top = row.max()
            e = np.array([expf(v) for v in row - top], dtype=np.float32)
            total = 0.0
            for v in e.tolist():
                total += v
            out[i] = e / np.float32(total)
        return out

    return op


OPS: dict[str, Callable[[dict[str, Any], Arrays], Op]] = {
    "standard_scaler": standard_scaler,
    "minmax_scaler": minmax_scaler,
    "simple_imputer": simple_imputer,
    "one_hot_encoder": one_hot_encoder,
    "linear": linear,
    "trees": trees,
    "labels": labels,
    "ravel": ravel,
    "exp": exp,
    "lightgbm_sigmoid": lightgbm_sigmoid,
    "lightgbm_softmax": lightgbm_softmax,
    "xgboost_sigmoid": xgboost_sigmoid,
    "xgboost_softmax": xgboost_softmax,
}
