"""Model files and model calls that try to get more than they should: a skops file that
smuggles a function under a scikit-learn name, model bugs blamed on the client, one big
request holding the event loop past its deadline, inputs coerced into something else."""

from __future__ import annotations

import json
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from mlinfra.serving import skops_trust


def _retarget(node: Any) -> bool:
    """Point the schema's numpy.log1p function node at `sklearn.datasets._rcv1.remove`."""
    if isinstance(node, dict):
        if node.get("__class__") == "log1p" and node.get("__module__") == "numpy":
            node["__class__"], node["__module__"] = "remove", "sklearn.datasets._rcv1"
            return True
        return any([_retarget(v) for v in node.values()])
    if isinstance(node, list):
        return any([_retarget(v) for v in node])
    return False


def smuggling_skops(path: Path) -> Path:
    """A Pipeline(FunctionTransformer(func=...), LogisticRegression) whose func is recorded
    as `sklearn.datasets._rcv1.remove`: skops resolves that name to os.remove."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    x = np.abs(np.random.default_rng(0).normal(size=(50, 6)))
    pipe = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression())
    pipe.fit(x, (x[:, 0] > 0.7).astype(int))
    honest = path.with_name("honest.skops")
    sio.dump(pipe, honest)
    with zipfile.ZipFile(honest) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "schema.json":
                schema = json.loads(data)
                assert _retarget(schema), "no numpy.log1p node in the schema"
                data = json.dumps(schema).encode()
            dst.writestr(item, data)
    return path


def test_skops_function_smuggled_under_a_sklearn_name_is_refused(start_server: Any, tmp_path: Path) -> None:
    import skops.io as sio

    evil = smuggling_skops(tmp_path / "evil.skops")
    # The file is what the attack needs: skops reports the smuggled name as untrusted.
    assert sio.get_untrusted_types(file=evil) == ["sklearn.datasets._rcv1.remove"]
    srv = start_server(str(evil), ready=False, MLINFRA_WARMUP="false")  # old code: ready
    assert srv.wait_exit(120) == 1
    error = next(r["error"] for r in srv.log_records() if r["msg"] == "model load failed; exiting")
    assert "sklearn.datasets._rcv1.remove" in str(error)
    assert "MLINFRA_TRUSTED_PICKLE" in str(error)


def test_trust_list_names_are_the_classes_they_say() -> None:
    # Every allowed name resolves to a class defined under exactly that name; a re-export
    # (a function or class imported into a scikit-learn module) is never accepted.
    assert all(skops_trust.is_what_it_says(name) for name in skops_trust.ALLOWED_TYPES)
    assert not skops_trust.is_what_it_says("sklearn.datasets._rcv1.remove")  # os.remove
    assert not skops_trust.is_what_it_says("sklearn.datasets._base.urlretrieve")
    assert skops_trust.refused(["sklearn.tree._tree.Tree", "sklearn.datasets._base.urlretrieve", "sklearn.evil.X"]) == [
        "sklearn.datasets._base.urlretrieve",
        "sklearn.evil.X",
    ]


@pytest.mark.parametrize("factory", ["WrongRows(0, 3)", "Raises(0, 3)"])
def test_model_bug_is_500_with_traceback_not_422(start_server: Any, helpers: Any, tmp_path: Path, factory: str) -> None:
    model = helpers.make_pickle(tmp_path / "bug.joblib", factory)
    srv = start_server(str(model), MLINFRA_TRUSTED_PICKLE="true", MLINFRA_WARMUP="false")
    resp = requests.post(srv.url + "/predict", json={"instances": [[1, 2, 3], [4, 5, 6]]})
    assert resp.status_code == 500, resp.text
    assert "Traceback" in srv.logs()


@pytest.fixture(scope="module")
def per_row(start_server: Any, helpers: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    # 0.2 ms per row: one row is far below the 2 ms inline threshold (so calls run on the
    # event loop thread), 5,000 rows are a whole second.
    model = helpers.make_pickle(tmp_path_factory.mktemp("pr") / "pr.joblib", "PerRowModel(2e-4, 3)")
    return start_server(
        str(model),
        MLINFRA_TRUSTED_PICKLE="true",
        MLINFRA_REQUEST_TIMEOUT_S="0.5",
        MLINFRA_MAX_BATCH_SIZE="32",
    )


def test_big_request_is_sliced_and_its_deadline_holds(per_row: Any) -> None:
    rows = [[float(i), 0.0, 1.0] for i in range(5000)]
    probes: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            t0 = time.monotonic()
            requests.get(per_row.url + "/health", timeout=10)
            probes.append(time.monotonic() - t0)
            time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        t0 = time.monotonic()
        resp = requests.post(per_row.url + "/predict", json={"instances": rows}, timeout=30)
        took = time.monotonic() - t0
    finally:
        stop.set()
        prober.join()
    assert resp.status_code == 504, resp.text
    assert took < 1.5, f"answered after {took:.2f} s; the deadline is 0.5 s"
    assert max(probes) < 0.5, f"/health waited {max(probes):.2f} s behind the big request"


def test_big_request_within_deadline_is_whole_and_in_order(per_row: Any) -> None:
    rows = [[float(i), 0.0, 1.0] for i in range(1000)]  # 0.2 s of model time, in slices
    resp = requests.post(per_row.url + "/predict", json={"instances": rows}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"predictions": [float(i) + 1.0 for i in range(1000)]}
    text = requests.get(per_row.url + "/metrics").text
    buckets = dict(
        (line.split('le="')[1].split('"')[0], float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("mlinfra_batch_size_bucket")
    )
    assert buckets["32.0"] == buckets["+Inf"], "a model call held more than max_batch rows"


# -- inputs mean what they say ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sk(start_server: Any, sklearn_model: Any) -> Any:
    return start_server(str(sklearn_model[0]))


def v2(datatype: str, shape: list[int], data: Any) -> dict[str, Any]:
    return {"inputs": [{"name": "x", "datatype": datatype, "shape": shape, "data": data}]}


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v2/models/model/infer", v2("INT8", [1, 6], [300, 1, 2, 3, 4, 5]), 422, "INT8's range"),
        ("/v2/models/model/infer", v2("UINT8", [1, 6], [-1, 1, 2, 3, 4, 5]), 422, "UINT8's range"),
        ("/v2/models/model/infer", v2("INT16", [1, 6], [40000, 1, 2, 3, 4, 5]), 422, "range"),
        ("/v2/models/model/infer", v2("FP16", [1, 6], [1e6, 1, 2, 3, 4, 5]), 422, "range"),
        ("/v2/models/model/infer", v2("FP64", [1, 6], [True, 1, 2, 3, 4, 5]), 422, "boolean"),
        (
            "/v2/models/model/infer",
            v2("FP64", [1, 6], [[1, 2, 3], [4, 5, 6]]),
            422,
            "nested as [2, 3] but shape is [1, 6]",
        ),
        ("/v2/models/model/infer", {"inputs": [1]}, 422, "tensor object"),
        ("/predict", {"features": [True, 0.2, 0.3, 0.4, 0.5, 0.6]}, 422, "boolean"),
        ("/predict", {"instances": [[1, 2, 3, 4, 5, False]]}, 422, "boolean"),
        (
            "/predict",
            {"instances": [[1, 2, 3, 4, 5, 6]], "features": [1, 2, 3, 4, 5, 6]},
            400,
            "not both",
        ),
    ],
)
def test_inputs_are_not_coerced(sk: Any, path: str, body: dict[str, Any], status: int, message: str) -> None:
    resp = requests.post(sk.url + path, data=json.dumps(body))
    assert resp.status_code == status, resp.text
    assert message in resp.json()["error"]


def test_in_range_integers_and_matching_nesting_still_work(sk: Any, sklearn_model: Any) -> None:
    _, model, _ = sklearn_model
    data = [[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]]
    resp = requests.post(sk.url + "/v2/models/model/infer", json=v2("INT8", [2, 6], data))
    assert resp.status_code == 200, resp.text
    assert resp.json()["outputs"][0]["data"] == model.predict(np.array(data, float)).tolist()
    # "true" inside another field is not a boolean feature
    ok = requests.post(sk.url + "/predict", json={"features": [1, 2, 3, 4, 5, 6], "note": "true"})
    assert ok.status_code == 200
