"""Every supported framework: a model trained here, served by a real server process, and the
served predictions compared with the model's own."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests


def _xgboost(d: Path, data: Callable[[], Any]) -> tuple[Path, Any]:
    import xgboost as xgb

    x, y = data()
    clf = xgb.XGBClassifier(n_estimators=15, max_depth=3).fit(x, y)
    path = d / "model.ubj"
    clf.get_booster().save_model(str(path))
    return path, lambda rows: clf.get_booster().inplace_predict(rows)


def _lightgbm(d: Path, data: Callable[[], Any]) -> tuple[Path, Any]:
    import lightgbm as lgb

    x, y = data()
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7}, lgb.Dataset(x, y), 15)
    path = d / "model.txt"
    booster.save_model(str(path))
    return path, booster.predict


def _onnx(d: Path, data: Callable[[], Any]) -> tuple[Path, Any]:
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    x, y = data()
    clf = LogisticRegression().fit(x, y)
    onx = to_onnx(clf, x[:1].astype(np.float32), options={id(clf): {"zipmap": False}})
    path = d / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def own(rows: np.ndarray) -> np.ndarray:
        return session.run(None, {session.get_inputs()[0].name: rows.astype(np.float32)})[0]

    return path, own


def _torchscript(d: Path, data: Callable[[], Any]) -> tuple[Path, Any]:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    with warnings.catch_warnings():
        # torch 2.10+ deprecates TorchScript in favour of torch.export, but TorchScript files
        # are what teams ship today and what the runtime must load; only this warning is
        # tolerated, and only while making the test model.
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        scripted = torch.jit.script(net.eval())
    path = d / "model.pt"
    scripted.save(str(path))

    def own(rows: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return scripted(torch.from_numpy(rows.astype(np.float32))).numpy()

    return path, own


def _sklearn_joblib(d: Path, data: Callable[[], Any]) -> tuple[Path, Any]:
    import joblib
    from sklearn.ensemble import RandomForestRegressor

    x, y = data()
    reg = RandomForestRegressor(n_estimators=5, random_state=0).fit(x, y.astype(float))
    path = d / "model.joblib"
    joblib.dump(reg, path)
    return path, reg.predict


CASES = {
    "xgboost": (_xgboost, {}),
    "lightgbm": (_lightgbm, {}),
    "onnx": (_onnx, {}),
    "torchscript": (_torchscript, {"MLINFRA_INPUT_FEATURES": "6"}),
    "sklearn-joblib-trusted": (_sklearn_joblib, {"MLINFRA_TRUSTED_PICKLE": "true"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_served_predictions_equal_the_models_own(case: str, start_server: Any, tmp_path: Path, helpers: Any) -> None:
    build, env = CASES[case]
    path, own = build(tmp_path, helpers.tabular_data)
    srv = start_server(str(path), **env)
    x, _ = helpers.tabular_data(n_rows=12, seed=7)
    want = np.asarray(own(x))
    resp = requests.post(srv.url + "/predict", json={"instances": x.tolist()})
    assert resp.status_code == 200, resp.text
    got = np.asarray(resp.json()["predictions"])
    assert got.shape == want.shape
    if case == "torchscript":
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    else:
        np.testing.assert_array_equal(got, want)
    v2 = requests.post(
        srv.url + "/v2/models/model/infer",
        json={"inputs": [{"name": "in", "shape": [12, 6], "datatype": "FP64", "data": x.ravel().tolist()}]},
    ).json()
    assert v2["outputs"][0]["shape"] == list(want.shape)
    np.testing.assert_allclose(np.reshape(v2["outputs"][0]["data"], want.shape), want, rtol=1e-6)
