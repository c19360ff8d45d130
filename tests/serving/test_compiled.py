"""Compiled models: for every covered family the compiled form gives the framework's exact
predictions (bit-identical, same dtype) on fresh random and edge rows, NaN included where
the framework defines it; anything else keeps the framework path and says why."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlinfra.serving.compiled import artifact
from mlinfra.serving.compiled.__main__ import KEPT_FRAMEWORK, compile_model
from mlinfra.serving.models import load_model

REPO = Path(__file__).resolve().parents[2]


def _data(seed: int = 0, n: int = 600, nan: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[:, 5] = rng.integers(0, 4, n)  # a discrete column: many exact ties at split points
    if nan:
        x[rng.random(x.shape) < 0.05] = np.nan
    f = np.nan_to_num(x)
    return x, {
        "binary": (f[:, 0] + f[:, 1] * f[:, 2] > 0).astype(np.int64),
        "multi": np.digitize(f[:, 0] + 0.3 * f[:, 5], [-0.5, 0.5]),
        "labels": np.array(["cat", "dog", "eel"])[np.digitize(f[:, 0], [-0.5, 0.5])],
        "reg": 2 * f[:, 0] + f[:, 1] - 0.5 * f[:, 5],
        "positive": np.abs(f[:, 0]) + f[:, 5],
    }


def fresh_rows(n_features: int, nan: bool, dtype: Any = np.float64) -> np.ndarray:
    """Rows the build-time probes never saw: another seed, other scales, edge values."""
    rng = np.random.default_rng(12345)
    rows = np.concatenate(
        [
            rng.normal(size=(300, n_features)),
            rng.normal(size=(50, n_features)) * 1e4,
            np.round(rng.uniform(-3, 3, size=(100, n_features)), 1),
            np.array([[0.0] * n_features, [-0.0] * n_features, [1e-38] * n_features]),
        ]
    )
    if nan:
        rows[rng.random(rows.shape) < 0.1] = np.nan
    return rows.astype(dtype)


def _sk(factory: Callable[[], Any], target: str, nan: bool = True) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        import skops.io as sio

        x, ys = _data(nan=nan)
        path = tmp / "model.skops"
        sio.dump(factory().fit(x, ys[target]), path)
        return path

    return make


def _sklearn_cases() -> dict[str, tuple[Callable[[Path], Path], bool]]:
    from sklearn import ensemble as en
    from sklearn import impute, pipeline, svm
    from sklearn import linear_model as lm
    from sklearn import preprocessing as pp
    from sklearn import tree as tr

    sk = [
        ("DecisionTreeClassifier", lambda: tr.DecisionTreeClassifier(random_state=0), "multi"),
        ("DecisionTreeRegressor", lambda: tr.DecisionTreeRegressor(random_state=0), "reg"),
        ("RandomForestClassifier", lambda: en.RandomForestClassifier(15, random_state=0), "binary"),
        ("RandomForestClassifier-strings", lambda: en.RandomForestClassifier(10), "labels"),
        ("RandomForestRegressor", lambda: en.RandomForestRegressor(15, random_state=0), "reg"),
        ("ExtraTreesClassifier", lambda: en.ExtraTreesClassifier(15, random_state=0), "multi"),
        ("ExtraTreesRegressor", lambda: en.ExtraTreesRegressor(15, random_state=0), "reg"),
        ("HistGradientBoostingClassifier", lambda: en.HistGradientBoostingClassifier(max_iter=15), "binary"),
        ("HistGradientBoostingClassifier-multi", lambda: en.HistGradientBoostingClassifier(max_iter=10), "labels"),
        ("HistGradientBoostingRegressor", lambda: en.HistGradientBoostingRegressor(max_iter=15), "reg"),
        (
            "HistGradientBoostingRegressor-poisson",
            lambda: en.HistGradientBoostingRegressor(max_iter=10, loss="poisson"),
            "positive",
        ),
        (
            "Pipeline-SimpleImputer-MinMaxScaler-LogisticRegression",
            lambda: pipeline.make_pipeline(impute.SimpleImputer(), pp.MinMaxScaler(clip=True), lm.LogisticRegression()),
            "multi",
        ),
        (
            "Pipeline-StandardScaler-RandomForest",
            lambda: pipeline.make_pipeline(pp.StandardScaler(), en.RandomForestClassifier(10)),
            "binary",
        ),
    ]
    # scikit-learn refuses NaN for these: trained and checked on finite rows
    finite = [
        ("GradientBoostingClassifier", lambda: en.GradientBoostingClassifier(n_estimators=15), "binary"),
        ("GradientBoostingClassifier-multi", lambda: en.GradientBoostingClassifier(n_estimators=10), "multi"),
        ("GradientBoostingRegressor", lambda: en.GradientBoostingRegressor(n_estimators=15), "reg"),
        ("LogisticRegression", lm.LogisticRegression, "binary"),
        ("LogisticRegression-multi", lm.LogisticRegression, "multi"),
        ("LinearRegression", lm.LinearRegression, "reg"),
        ("Ridge", lm.Ridge, "reg"),
        ("SGDClassifier", lambda: lm.SGDClassifier(random_state=0), "multi"),
        ("SGDRegressor", lambda: lm.SGDRegressor(random_state=0), "reg"),
        ("LinearSVC", svm.LinearSVC, "binary"),
        (
            "Pipeline-StandardScaler-LogisticRegression",
            lambda: pipeline.make_pipeline(pp.StandardScaler(), lm.LogisticRegression()),
            "binary",
        ),
    ]
    return {
        **{name: (_sk(f, target), True) for name, f, target in sk},
        **{name: (_sk(f, target, nan=False), False) for name, f, target in finite},
    }


def _xgb(params: dict[str, Any], target: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        import xgboost as xgb

        x, ys = _data(n=1500)
        booster = xgb.train({**params, "max_depth": 5}, xgb.DMatrix(x, label=ys[target]), 20)
        path = tmp / "model.ubj"
        booster.save_model(str(path))
        return path

    return make


def _lgb(params: dict[str, Any], target: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        import lightgbm as lgb

        x, ys = _data(n=1500)
        x[::7, 4] = 0.0  # exact zeros: LightGBM's zero/missing rules
        booster = lgb.train({**params, "verbose": -1}, lgb.Dataset(x, label=ys[target]), 20)
        path = tmp / "model.txt"
        booster.save_model(str(path))
        return path

    return make


CASES: dict[str, tuple[Callable[[Path], Path], bool]] = {
    **_sklearn_cases(),
    "xgboost-binary:logistic": (_xgb({"objective": "binary:logistic"}, "binary"), True),
    "xgboost-reg:squarederror": (_xgb({"objective": "reg:squarederror"}, "reg"), True),
    "xgboost-multi:softprob": (_xgb({"objective": "multi:softprob", "num_class": 3}, "multi"), True),
    "lightgbm-binary": (_lgb({"objective": "binary"}, "binary"), True),
    "lightgbm-regression": (_lgb({"objective": "regression"}, "reg"), True),
    "lightgbm-multiclass": (_lgb({"objective": "multiclass", "num_class": 3}, "multi"), True),
    "lightgbm-zero_as_missing": (_lgb({"objective": "binary", "zero_as_missing": True}, "binary"), True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_is_bit_identical_to_the_framework(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, nan = CASES[case]
    model = make(tmp_path)
    assert compile_model(model, None, True, None) == 0, capsys.readouterr().err
    assert "compiled" in capsys.readouterr().err
    framework = load_model(model, framework=None, trusted_pickle=True, use_compiled=False)
    served = load_model(model, framework=None, trusted_pickle=True)
    assert framework.native is not None
    assert served.native is None  # really the compiled one
    assert served.n_features == framework.n_features
    assert served.input_dtype == framework.input_dtype
    rows = fresh_rows(int(framework.n_features or 0), nan, framework.input_dtype)
    for batch in (rows, rows[:32], rows[:1], rows[-1:]):
        want, got = framework.predict(batch), served.predict(batch)
        assert want.dtype == got.dtype or {want.dtype.kind, got.dtype.kind} <= set("OU")
        assert want.shape == got.shape
        assert np.array_equal(want, got, equal_nan=want.dtype.kind == "f")
        assert want.tolist() == got.tolist() or want.dtype.kind == "f"


def test_uncovered_models_keep_the_framework_and_say_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neighbors import KNeighborsClassifier

    x, ys = _data(nan=False)
    knn = tmp_path / "knn.skops"
    sio.dump(KNeighborsClassifier().fit(x, ys["binary"]), knn)
    assert compile_model(knn, None, True, None) == KEPT_FRAMEWORK
    assert "kept the sklearn path: scikit-learn KNeighborsClassifier is not covered" in (capsys.readouterr().err)
    assert not artifact.sidecar_path(knn).exists()
    served = load_model(knn, framework=None, trusted_pickle=True)
    assert served.native is not None  # today's path, unchanged

    cat = tmp_path / "cat.skops"
    x[:, 5] = np.abs(x[:, 5])
    est = HistGradientBoostingClassifier(max_iter=5, categorical_features=[5])
    sio.dump(est.fit(x, ys["binary"]), cat)
    assert compile_model(cat, None, True, None) == KEPT_FRAMEWORK
    assert "categorical features" in capsys.readouterr().err


def test_a_compiled_form_that_disagrees_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlinfra.serving.compiled import pack

    real_pack = pack.pack

    def one_ulp_off(*args: Any, **kwargs: Any) -> Any:
        spec, arrays = real_pack(*args, **kwargs)
        thr = arrays["t.threshold"]
        arrays["t.threshold"] = np.nextafter(thr, np.inf).astype(thr.dtype)
        return spec, arrays

    monkeypatch.setattr("mlinfra.serving.compiled.convert.pack", one_ulp_off)
    model = CASES["HistGradientBoostingRegressor"][0](tmp_path)
    assert compile_model(model, None, True, None) == KEPT_FRAMEWORK
    err = capsys.readouterr().err
    assert "kept the sklearn path" in err
    assert "differ" in err, err
    assert not artifact.sidecar_path(model).exists()


def test_a_stale_or_foreign_sidecar_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = CASES["LinearRegression"][0](tmp_path)
    assert compile_model(model, None, True, None) == 0
    sidecar = artifact.sidecar_path(model)
    header, arrays = artifact.read(sidecar)

    artifact.write(sidecar, {**header, "version": artifact.VERSION + 1}, arrays)
    assert load_model(model, framework=None, trusted_pickle=True).native is not None
    assert "format version" in _ignored_reason(caplog)

    artifact.write(sidecar, header, arrays)
    assert load_model(model, framework=None, trusted_pickle=True).native is None
    model.write_bytes(model.read_bytes() + b"")  # same bytes: still used
    assert load_model(model, framework=None, trusted_pickle=True).native is None
    CASES["Ridge"][0](tmp_path)  # a new model under the same name: the sidecar is stale
    caplog.clear()
    assert load_model(model, framework=None, trusted_pickle=True).native is not None
    assert "sha256" in _ignored_reason(caplog)


def _ignored_reason(caplog: pytest.LogCaptureFixture) -> str:
    [record] = [r for r in caplog.records if r.getMessage().startswith("compiled model ignored")]
    return str(record.fields["reason"])  # type: ignore[attr-defined]


def test_cli_exit_codes(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlinfra.serving.compiled", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
        )

    missing = run(str(tmp_path / "nope.skops"))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    model = CASES["Pipeline-StandardScaler-LogisticRegression"][0](tmp_path)
    sample = tmp_path / "sample.npy"
    np.save(sample, fresh_rows(6, nan=False))
    ok = run(str(model), "--sample", str(sample))
    assert ok.returncode == 0, ok.stderr
    assert "Pipeline[StandardScaler, LogisticRegression]" in ok.stderr
    header, _ = artifact.read(artifact.sidecar_path(model))
    assert header["format"] == artifact.FORMAT
    assert header["version"] == artifact.VERSION
    assert header["source"]["sha256"] == artifact.file_sha256(model)
    json.dumps(header)  # plain JSON


def test_server_with_a_compiled_model_never_imports_the_framework(
    tmp_path: Path, start_server: Callable[..., Any]
) -> None:
    """The real server process, started with Python's import log on: with the compiled
    sidecar present, loading and serving imports no scikit-learn, SciPy, skops, XGBoost or
    LightGBM, and answers exactly what the framework answers."""
    import requests

    model = CASES["RandomForestClassifier"][0](tmp_path)
    assert compile_model(model, None, True, None) == 0
    framework = load_model(model, framework=None, trusted_pickle=True, use_compiled=False)
    rows = fresh_rows(6, nan=False)[:20]
    server = start_server(str(model), PYTHONPROFILEIMPORTTIME="1", MLINFRA_TRUSTED_PICKLE="true")
    got = requests.post(server.url + "/predict", json={"instances": rows.tolist()}, timeout=10)
    assert got.status_code == 200, got.text
    assert got.json()["predictions"] == framework.predict(rows).tolist()
    server.stop()
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in server.logs().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "numpy" in imported  # the import log is really on
    assert not imported & {"sklearn", "scipy", "skops", "xgboost", "lightgbm", "joblib"}
    assert any("serving the compiled model" in str(r.get("msg")) for r in server.log_records())


def test_a_compiled_file_is_a_model_of_its_own_served_without_the_framework(
    tmp_path: Path, start_server: Callable[..., Any]
) -> None:
    """`model.skops.mlinfra.npz` alone (the original not beside it, as when it is fetched from S3):
    the framework is inferred from the name, the server imports no framework and answers exactly
    what scikit-learn answers."""
    import requests

    from mlinfra.serving.frameworks import infer_framework

    model = CASES["HistGradientBoostingClassifier"][0](tmp_path)
    assert compile_model(model, None, True, None) == 0
    framework = load_model(model, framework=None, trusted_pickle=True, use_compiled=False)
    alone = tmp_path / "elsewhere" / artifact.sidecar_path(model).name
    alone.parent.mkdir()
    artifact.sidecar_path(model).rename(alone)
    assert infer_framework(f"s3://bucket/models/{alone.name}") == "compiled"
    rows = fresh_rows(6, nan=True)[:20]
    loaded = load_model(alone, framework=None, trusted_pickle=False)
    assert loaded.framework == "sklearn"  # what produced it, from the header
    assert np.array_equal(loaded.predict(rows), framework.predict(rows))
    server = start_server(str(alone), PYTHONPROFILEIMPORTTIME="1")
    got = requests.post(server.url + "/predict", json={"instances": fresh_rows(6, nan=False)[:5].tolist()}, timeout=10)
    assert got.status_code == 200, got.text
    assert got.json()["predictions"] == framework.predict(fresh_rows(6, nan=False)[:5]).tolist()
    server.stop()
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in server.logs().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "numpy" in imported
    assert not imported & {"sklearn", "scipy", "skops", "xgboost", "lightgbm", "joblib"}
    assert any("serving a compiled model file" in str(r.get("msg")) for r in server.log_records())


def test_compiled_artifact_is_readable_by_the_runtime_user(tmp_path: Path) -> None:
    # The build stage writes it as root; the image's runtime reads it as UID 10001.
    target = tmp_path / "m.mlinfra.npz"
    artifact.write(target, {"format": 1}, {"x": np.zeros(2)})
    assert target.stat().st_mode & 0o777 == 0o644


# -- OneHotEncoder: numeric categories, sparse or dense, drop, every handle_unknown ---------------
def _categorical(seed: int = 0, n: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.integers(0, 5, n),  # ints 0..4
            rng.integers(0, 3, n) * 1.5,  # 0, 1.5, 3.0
            rng.choice([-1.0, -0.0, 2.5, 7.25], n),  # negative, signed zero, fractions
            rng.integers(10, 12, n),  # binary: drop='if_binary' drops one
        ]
    ).astype(np.float64)
    y = ((x[:, 0] > 2) ^ (x[:, 2] > 1)).astype(np.int64)
    return x, y


def _categorical_rows(x: np.ndarray, unknown: bool) -> np.ndarray:
    """Fresh rows of known categories (another seed), and with `unknown` a share of values
    the encoder never saw: between, just next to and far from known ones, and NaN."""
    rng = np.random.default_rng(777)
    rows = np.stack([rng.choice(np.unique(x[:, f]), 400) for f in range(x.shape[1])], axis=1)
    if unknown:
        odd = rng.choice([0.75, np.nextafter(1.5, 2), 1e9, -3.0, np.nan], size=rows.shape)
        rows = np.where(rng.random(rows.shape) < 0.15, odd, rows)
    return rows


def _ohe_cases() -> dict[str, Callable[[], Any]]:
    from sklearn import ensemble as en
    from sklearn import impute, pipeline
    from sklearn import linear_model as lm
    from sklearn import preprocessing as pp

    ohe = pp.OneHotEncoder
    return {
        "dense-error-logreg": lambda: pipeline.make_pipeline(ohe(sparse_output=False), lm.LogisticRegression()),
        "sparse-error-if_binary-logreg": lambda: pipeline.make_pipeline(ohe(drop="if_binary"), lm.LogisticRegression()),
        "sparse-ignore-logreg": lambda: pipeline.make_pipeline(ohe(handle_unknown="ignore"), lm.LogisticRegression()),
        "dense-ignore-drop_first-logreg": lambda: pipeline.make_pipeline(
            ohe(drop="first", sparse_output=False, handle_unknown="ignore"), lm.LogisticRegression()
        ),
        "sparse-infrequent_if_exist-ridge": lambda: pipeline.make_pipeline(
            ohe(handle_unknown="infrequent_if_exist"), lm.Ridge()
        ),
        "sparse-warn-forest": lambda: pipeline.make_pipeline(
            ohe(handle_unknown="warn"), en.RandomForestClassifier(10, random_state=0)
        ),
        "float32-ignore-forest": lambda: pipeline.make_pipeline(
            ohe(handle_unknown="ignore", dtype=np.float32), en.ExtraTreesClassifier(10, random_state=0)
        ),
        "imputer-ignore-logreg": lambda: pipeline.make_pipeline(
            impute.SimpleImputer(), ohe(handle_unknown="ignore"), lm.LogisticRegression()
        ),
    }


@pytest.mark.parametrize("case", sorted(_ohe_cases()))
def test_one_hot_pipelines_are_bit_identical_and_unknowns_follow_handle_unknown(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    import skops.io as sio

    from mlinfra.serving.compiled.steps import UnknownCategory

    x, y = _categorical()
    est = _ohe_cases()[case]()
    fit_x = x.copy()
    if "imputer" in case:
        fit_x[::11, 1] = np.nan  # the imputer fills these with the column mean before encoding
        est.fit(fit_x, y)
        x = est[0].transform(fit_x)  # what the encoder saw
    else:
        est.fit(x, y + (x[:, 0] if "ridge" in case else 0))
    model = tmp_path / "model.skops"
    sio.dump(est, model)
    assert compile_model(model, None, True, None) == 0, capsys.readouterr().err
    assert "OneHotEncoder" in capsys.readouterr().err
    framework = load_model(model, framework=None, trusted_pickle=True, use_compiled=False)
    served = load_model(model, framework=None, trusted_pickle=True)
    assert served.native is None
    rejects = "error" in case
    rows = _categorical_rows(x, unknown=not rejects)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # handle_unknown='warn' warns per call
        for batch in (rows, rows[:32], rows[:1], rows[-1:]):
            want, got = framework.predict(batch), served.predict(batch)
            assert want.dtype == got.dtype
            assert want.shape == got.shape
            assert np.array_equal(want, got)
    if rejects:
        bad = rows[:3].copy()
        bad[1, 2] = 2.0  # between two known values of column 2
        with pytest.raises(ValueError, match="unknown categories"):
            framework.predict(bad)
        with pytest.raises(UnknownCategory, match=r"column 2: unknown categories \[2.0\]"):
            served.predict(bad)


def test_one_hot_encoders_that_are_not_covered_keep_the_framework(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x, y = _categorical()
    cases = {
        "infrequent categories": make_pipeline(OneHotEncoder(min_frequency=400), LogisticRegression()),
        "OneHotEncoder behind standard_scaler": make_pipeline(StandardScaler(), OneHotEncoder(), LogisticRegression()),
        "object categories": make_pipeline(OneHotEncoder(), LogisticRegression()),
    }
    for reason, est in cases.items():
        fit_x = x.astype(str).astype(object) if reason == "object categories" else x
        model = tmp_path / f"{reason.split()[0]}.skops"
        sio.dump(est.fit(fit_x, y), model)
        assert compile_model(model, None, True, None) == KEPT_FRAMEWORK
        assert reason in capsys.readouterr().err
        assert not artifact.sidecar_path(model).exists()


def test_server_answers_an_unknown_category_with_422_naming_the_column(
    tmp_path: Path, start_server: Callable[..., Any]
) -> None:
    """handle_unknown='error': the compiled encoder refuses the request with a 422 that names
    the column and the value (scikit-learn's ValueError would be a 500); known rows still get
    the framework's answers. The server's warm-up uses a verified row, not zeros (0 is no
    category of column 3, whose values are 10 and 11)."""
    import requests
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    x, y = _categorical()
    model = tmp_path / "model.skops"
    sio.dump(make_pipeline(OneHotEncoder(), LogisticRegression()).fit(x, y), model)
    assert compile_model(model, None, True, None) == 0
    framework = load_model(model, framework=None, trusted_pickle=True, use_compiled=False)
    server = start_server(str(model), MLINFRA_TRUSTED_PICKLE="true")
    good = _categorical_rows(x, unknown=False)[:5]
    bad = good[:1].copy()
    bad[0, 0] = 9.0
    resp = requests.post(server.url + "/predict", json={"instances": bad.tolist()}, timeout=10)
    assert resp.status_code == 422, resp.text
    assert "column 0: unknown categories [9.0]" in resp.text
    ok = requests.post(server.url + "/predict", json={"instances": good.tolist()}, timeout=10)
    assert ok.status_code == 200
    assert ok.json()["predictions"] == framework.predict(good).tolist()


def test_framework_path_starts_when_the_model_refuses_zeros(tmp_path: Path, start_server: Callable[..., Any]) -> None:
    """Not compiled (no sidecar): scikit-learn refuses the zero warm-up row (0 is no category
    of column 3); the server skips the warm-up, says so, and serves known rows (old code:
    "model load failed; exiting")."""
    import requests
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    x, y = _categorical()
    model = tmp_path / "model.skops"
    est = make_pipeline(OneHotEncoder(), LogisticRegression()).fit(x, y)
    sio.dump(est, model)
    server = start_server(str(model), MLINFRA_TRUSTED_PICKLE="true")
    good = _categorical_rows(x, unknown=False)[:5]
    ok = requests.post(server.url + "/predict", json={"instances": good.tolist()}, timeout=10)
    assert ok.status_code == 200, ok.text
    assert ok.json()["predictions"] == est.predict(good).tolist()
    assert any("warm-up skipped" in str(r.get("msg")) for r in server.log_records())
