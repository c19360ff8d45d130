"""Build time: probe rows, and the check that a compiled program gives the framework's own
answers bit for bit (same dtype, same shape, np.array_equal; NaN equal to NaN)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlinfra.serving.compiled.convert import Program
from mlinfra.serving.compiled.program import CompiledModel
from mlinfra.serving.errors import InvalidInput

Predict = Callable[[np.ndarray], np.ndarray]


def probe_rows(
    n_features: int,
    dtype: np.dtype,  # type: ignore[type-arg]
    split_points: list[tuple[int, np.ndarray]],
    missing_ok: bool,
    sample: np.ndarray | None = None,
    seed: int = 0,
    categories: dict[int, np.ndarray] | None = None,
    unknown_ok: bool = True,
) -> np.ndarray:
    """Rows on, just below and just above every split threshold (in float64 and float32
    steps, where a wrong comparison or cast would show), random rows at several scales,
    edge values (0, -0.0, +-1e30, tiny and subnormal), NaN where the framework defines it,
    and the model's held-out sample when one is shipped. Columns an encoder reads
    (`categories`) mostly hold its categories; the rest of their values are unknown to it,
    unless an unknown value is an error (`unknown_ok` False: see `reject_rows`)."""
    rng = np.random.default_rng(seed)
    parts = [rng.normal(size=(256, n_features)) * s for s in (1.0, 100.0, 1e-3)]
    parts.append(rng.uniform(-1, 1, size=(64, n_features)).round(1))  # exact ties like 0.5
    edges = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-36, -1e-36, 1e-40, -1e-40, 1e30, -1e30]
    parts.append(np.repeat(np.array(edges)[:, None], n_features, axis=1))
    by_feature = dict(split_points)
    if by_feature:
        rows = rng.normal(size=(1024, n_features))
        for f, thr in by_feature.items():
            if f >= n_features or thr.size == 0:
                continue
            picks = rng.choice(thr, size=len(rows))
            step = rng.choice([-1.0, 0.0, 1.0], size=len(rows))
            near64 = np.nextafter(picks, picks + step)
            p32 = picks.astype(np.float32)
            near32 = np.nextafter(p32, p32 + step.astype(np.float32)).astype(np.float64)
            rows[:, f] = np.where(rng.random(len(rows)) < 0.5, near64, near32)
        parts.append(rows)
    if sample is not None:
        parts.append(np.asarray(sample, dtype=np.float64).reshape(-1, n_features))
    probes = np.concatenate(parts)
    if missing_ok:
        holes = probes[: len(probes) // 2].copy()
        holes[rng.random(holes.shape) < 0.2] = np.nan
        probes = np.concatenate([probes, holes, np.full((1, n_features), np.nan)])
    for f, known in (categories or {}).items():
        picks = rng.choice(known, size=len(probes)) if known.size else probes[:, f]
        keep = rng.random(len(probes)) < 0.2 if unknown_ok else np.zeros(len(probes), dtype=bool)
        probes[:, f] = np.where(keep, probes[:, f], picks)
    with np.errstate(over="ignore"):
        return probes.astype(dtype)


def reject_rows(probes: np.ndarray, categories: dict[int, np.ndarray], rows: int = 16) -> np.ndarray:
    """Known rows with one value, per row in turn in each encoded column, that its encoder
    does not know: next to a known one, between two, far off, NaN where NaN is not known."""
    out = []
    columns = [f for f, known in categories.items() if known.size]
    for r in range(min(rows, len(probes))):
        f = columns[r % len(columns)] if columns else None
        if f is None:
            break
        known = categories[f][~np.isnan(categories[f])]
        if not known.size:  # NaN is its only category
            known = np.array([0.0])
        candidates = [np.nextafter(known[0], -np.inf), known[-1] + 1.5, 1e30, -1e30]
        if known.size > 1:
            candidates.append((known[0] + known[1]) / 2)
        if not np.isnan(categories[f]).any():
            candidates.append(np.nan)
        row = probes[r].copy()
        row[f] = candidates[r % len(candidates)]
        out.append(row)
    return np.array(out, dtype=probes.dtype).reshape(-1, probes.shape[1])


def _same(want: np.ndarray, got: np.ndarray) -> str | None:
    want, got = np.asarray(want), np.asarray(got)
    if want.shape != got.shape:
        return f"shape {got.shape}, framework {want.shape}"
    if want.dtype != got.dtype and not (want.dtype.kind in "OUS" and got.dtype.kind in "OUS"):
        return f"dtype {got.dtype}, framework {want.dtype}"
    nan_ok = want.dtype.kind in "fc"
    if not np.array_equal(want, got, equal_nan=nan_ok):
        bad = int(np.count_nonzero(~((want == got) | (nan_ok and (want != want) & (got != got)))))
        return f"{bad} of {want.size} values differ"
    if want.tolist() != got.tolist():
        return "values encode differently"
    return None


def _as_columns(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.reshape(-1, 1) if a.ndim == 1 else a


def _rejects(predict: Predict, row: np.ndarray) -> bool:
    try:
        predict(row)
    except ValueError:  # scikit-learn's unknown-category error
        return True
    except InvalidInput:  # the compiled encoder's, answered 422
        return True
    return False


def verify(
    compiled: CompiledModel,
    program: Program,
    framework_predict: Predict,
    probes: np.ndarray,
    rejects: np.ndarray | None = None,
) -> str | None:
    """None when identical on every probe; else the first difference, in words. Checked for
    the whole probe set, in the runtime's batches of 32, and for rows alone (one-row calls
    take other code paths in BLAS and in the frameworks) spread over every kind of probe.
    Each row of `rejects` must be refused by both, alone and among good rows."""
    for i, row in enumerate(rejects if rejects is not None else []):
        alone, among = row[None, :], np.concatenate([probes[:3], row[None, :]])
        for batch in (alone, among):
            want, got = _rejects(framework_predict, batch), _rejects(compiled.predict, batch)
            if want != got:
                verdict = {True: "refuses", False: "accepts"}
                return f"reject row {i}: framework {verdict[want]} it, compiled {verdict[got]} it"
    batches = [probes]
    batches += [probes[i : i + 32] for i in range(0, min(len(probes), 512), 32)]
    singles = np.unique(np.linspace(0, len(probes) - 1, 64).astype(int))
    batches += [probes[i : i + 1] for i in singles]
    for batch in batches:
        problem = _same(framework_predict(batch), compiled.predict(batch))
        if problem:
            return f"predictions differ on a batch of {len(batch)} rows: {problem}"
        if program.scores is not None:
            problem = _same(_as_columns(program.scores(batch)), compiled.scores(batch))
            if problem:
                return f"scores differ on a batch of {len(batch)} rows: {problem}"
    return None
