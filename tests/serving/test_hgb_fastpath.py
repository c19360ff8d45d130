"""The all-trees-at-once path for HistGradientBoosting must give sklearn's exact numbers, and
must refuse itself whenever it cannot."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from mlinfra.serving import hgb_fastpath


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3000, 8))
    x[rng.random(x.shape) < 0.05] = np.nan  # exercise missing-value routing too
    return x, rng.normal(size=3000)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_identical_to_sklearn(kind: str) -> None:
    x, noise = data()
    signal = np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) + 0.3 * noise
    if kind == "regression":
        est: HistGradientBoostingClassifier | HistGradientBoostingRegressor = HistGradientBoostingRegressor(
            max_iter=40, random_state=0
        ).fit(x, signal)
    else:
        y = (signal > 0).astype(int) if kind == "binary" else np.digitize(signal, [-0.5, 0.5])
        est = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(x, y)
    x_new, _ = data(seed=1)
    want = est.predict(x_new)
    want_raw = est._raw_predict(x_new)
    assert hgb_fastpath.install(est)
    assert "_raw_predict" in vars(est)  # really swapped in, for this instance only
    assert np.array_equal(est._raw_predict(x_new), want_raw)
    assert np.array_equal(est.predict(x_new), want)
    assert np.array_equal(est.predict(x_new[:1]), want[:1])


def test_refuses_categorical_models() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 5, 500), rng.normal(size=500)])
    est = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0]).fit(x, (x[:, 0] > 2).astype(int))
    assert not hgb_fastpath.install(est)
    assert "_raw_predict" not in vars(est)


def test_self_check_rejects_a_path_that_disagrees(monkeypatch: pytest.MonkeyPatch) -> None:
    x, noise = data()
    est = HistGradientBoostingRegressor(max_iter=10).fit(np.nan_to_num(x), noise)
    real_forest = hgb_fastpath._Forest

    def skewed(estimator: object) -> object:
        forest = real_forest(estimator)
        forest.threshold = np.nextafter(forest.threshold, -np.inf)  # off by one ulp
        return forest

    monkeypatch.setattr(hgb_fastpath, "_Forest", skewed)
    assert not hgb_fastpath.install(est)
    assert "_raw_predict" not in vars(est)


def test_other_estimators_untouched() -> None:
    from sklearn.linear_model import LinearRegression

    est = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    assert not hgb_fastpath.install(est)
