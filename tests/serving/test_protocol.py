"""Endpoints, request shapes and every bad-input rule, over HTTP against a real server."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from mlinfra.serving import metric_names as m

MAX_BODY = 4096


@pytest.fixture(scope="module")
def server(start_server: Any, sklearn_model: tuple[Path, Any, np.ndarray]) -> Any:
    path, _, _ = sklearn_model
    return start_server(str(path), MLINFRA_MAX_BODY_BYTES=str(MAX_BODY), MLINFRA_LOG_LEVEL="DEBUG")


def raw(server: Any, payload: bytes, *, read_until_close: bool = True) -> bytes:
    """Send raw bytes on a fresh connection and return what the server answers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
            if not read_until_close:
                break
        return b"".join(chunks)


def test_health_and_ready(server: Any) -> None:
    assert requests.get(server.url + "/health").json() == {"status": "ok"}
    assert requests.get(server.url + "/ready").json() == {"ready": True}
    assert requests.get(server.url + "/v2/health/live").status_code == 200
    assert requests.get(server.url + "/v2/health/ready").status_code == 200
    assert requests.get(server.url + "/v2/models/model/ready").status_code == 200
    assert requests.get(server.url + "/v2").json()["name"] == "mlinfra"


def test_predict_instances_equal_model(server: Any, sklearn_model: Any) -> None:
    _, model, x = sklearn_model
    resp = requests.post(server.url + "/predict", json={"instances": x.tolist()})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"predictions": model.predict(x).tolist()}


def test_predict_single_row(server: Any, sklearn_model: Any) -> None:
    _, model, x = sklearn_model
    for row in x[:5]:
        resp = requests.post(server.url + "/predict", json={"features": row.tolist()})
        assert resp.json() == {"prediction": int(model.predict(row[None, :])[0])}


def test_v2_infer_equals_model(server: Any, sklearn_model: Any) -> None:
    _, model, x = sklearn_model
    body = {
        "id": "req-1",
        "inputs": [
            {
                "name": "input-0",
                "shape": list(x.shape),
                "datatype": "FP64",
                "data": x.ravel().tolist(),
            }
        ],
    }
    resp = requests.post(server.url + "/v2/models/model/infer", json=body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["model_name"] == "model"
    assert out["id"] == "req-1"
    assert out["outputs"][0]["shape"] == [len(x)]
    assert out["outputs"][0]["datatype"] == "INT64"
    assert out["outputs"][0]["data"] == model.predict(x).tolist()
    # nested (row-major) data is accepted too
    body["inputs"][0]["data"] = x.tolist()  # type: ignore[index]
    assert requests.post(server.url + "/v2/models/model/infer", json=body).json() == out


def test_v2_model_metadata(server: Any) -> None:
    meta = requests.get(server.url + "/v2/models/model").json()
    assert meta["name"] == "model"
    assert meta["platform"] == "mlinfra_sklearn"
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 6]}]


ROW = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def v2(tensor_fields: bytes) -> bytes:
    return b'{"inputs": [{"name": "x", ' + tensor_fields + b"}]}"


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/predict", b"{not json", 400, "not valid JSON"),
        ("/predict", b"", 400, "empty"),
        ("/predict", b'{"features": [NaN, 1, 2, 3, 4, 5]}', 400, "not valid JSON"),
        ("/predict", b"[1, 2]", 422, "instances"),
        ("/predict", b'{"rows": [[1]]}', 422, "instances"),
        ("/predict", b'{"instances": [[1, 2, 3]]}', 422, "expects 6 features"),
        ("/predict", b'{"instances": [[1, 2, 3, 4, 5, 6], [1, 2]]}', 422, "equal-length"),
        ("/predict", b'{"instances": [["1", "2", "3", "4", "5", "6"]]}', 422, "only numbers"),
        ("/predict", b'{"instances": []}', 422, "non-empty"),
        ("/predict", b'{"instances": [1, 2, 3, 4, 5, 6]}', 422, "rows"),
        ("/predict", b'{"features": [[1, 2, 3, 4, 5, 6]]}', 422, "flat list"),
        ("/predict", b'{"features": [1, 2, 3, 4, 5, {"a": 1}]}', 422, "numbers"),
        ("/predict", b'{"features": [1, 2, 3, 4, 5, 1e400]}', 400, "infinity"),
        ("/v2/models/model/infer", b'{"inputs": []}', 422, "exactly one input"),
        ("/v2/models/model/infer", b'{"outputs": []}', 422, "inputs"),
        (
            "/v2/models/model/infer",
            v2(b'"shape": [1, 6], "datatype": "BYTES", "data": [1,2,3,4,5,6]'),
            422,
            "datatype",
        ),
        (
            "/v2/models/model/infer",
            v2(b'"shape": [2, 6], "datatype": "FP32", "data": [1,2,3,4,5,6]'),
            422,
            "elements",
        ),
        (
            "/v2/models/model/infer",
            b'{"inputs": [{"name": "x", "shape": [1, -6], "datatype": "FP32", "data": [1]}]}',
            422,
            "shape",
        ),
        (
            "/v2/models/model/infer",
            v2(b'"shape": [1, 6], "datatype": "INT64", "data": [1.5,2,3,4,5,6]'),
            422,
            "fractional",
        ),
        (
            "/v2/models/model/infer",
            b'{"inputs": [{"name": "x", "shape": [1, 6], "datatype": "FP32", "data": [1,2,3,4,5,6],'
            b' "parameters": {"binary_data_size": 24}}]}',
            415,
            "binary tensor extension",
        ),
        ("/v2/models/other/infer", b"{}", 404, "serves 'model'"),
        ("/nope", b"{}", 404, "not served"),
    ],
)
def test_bad_input_is_4xx_with_message(server: Any, path: str, body: bytes, status: int, message: str) -> None:
    resp = requests.post(server.url + path, data=body, headers={"content-type": "application/json"})
    assert resp.status_code == status, resp.text
    assert message in resp.json()["error"]


def test_binary_extension_header_refused(server: Any) -> None:
    resp = requests.post(
        server.url + "/v2/models/model/infer",
        data=b"{}",
        headers={"Inference-Header-Content-Length": "2"},
    )
    assert resp.status_code == 415
    assert "binary tensor extension is not supported" in resp.json()["error"]


def test_wrong_method_is_405(server: Any) -> None:
    assert requests.get(server.url + "/predict").status_code == 405
    assert requests.post(server.url + "/health").status_code == 405
    assert requests.get(server.url + "/v2/models/model/infer").status_code == 405


def test_malformed_http_is_400(server: Any) -> None:
    answer = raw(server, b"GARBAGE\x00\x01 / HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_oversized_body_rejected_from_headers_alone(server: Any) -> None:
    # Only the headers are sent: the 413 must arrive without the server waiting for a body.
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
    answer = raw(server, head)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in answer.lower()


def test_oversized_chunked_body_rejected(server: Any) -> None:
    chunk = b"x" * 3000
    payload = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 3
    )
    assert raw(server, payload).startswith(b"HTTP/1.1 413 ")


def test_expect_100_continue(server: Any) -> None:
    body = b'{"features": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")


def test_keepalive_and_pipelining_keep_order(server: Any, sklearn_model: Any) -> None:
    _, model, x = sklearn_model
    import json

    reqs = b""
    for row in x[:4]:
        body = json.dumps({"features": row.tolist()}).encode()
        reqs += b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (
            len(body),
            body,
        )
    reqs += b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw(server, reqs)  # all five on one connection, sent at once
    parts = answer.split(b"HTTP/1.1 ")[1:]
    assert len(parts) == 5
    expected = model.predict(x[:4]).tolist()
    for part, want in zip(parts[:4], expected, strict=True):
        assert part.startswith(b"200 OK")
        assert part.endswith(b'{"prediction":%d}' % want)
    assert parts[4].endswith(b'{"status":"ok"}')


def test_metrics_exposed_with_shared_names(server: Any) -> None:
    requests.post(server.url + "/predict", json={"features": ROW})
    requests.post(server.url + "/predict", data=b"{bad")
    text = requests.get(server.url + "/metrics").text
    for name in m.ALL_METRICS:
        assert f"# TYPE {name} " in text, name
    assert 'mlinfra_requests_total{model="model",route="/predict",status="200"}' in text
    assert 'mlinfra_requests_total{model="model",route="/predict",status="400"}' in text
    assert 'mlinfra_model_ready{model="model"} 1.0' in text
    assert "mlinfra_model_load_seconds{" in text
    assert "process_resident_memory_bytes" in text


def test_structured_request_logs(server: Any) -> None:
    requests.post(server.url + "/predict", json={"features": ROW})
    records = server.log_records()
    assert any(r["msg"] == "model ready" and r["framework"] == "sklearn" for r in records)
    assert any(
        r["msg"] == "request" and r["path"] == "/predict" and r["status"] == 200 and isinstance(r["duration_ms"], float)
        for r in records
    )


def test_api_key_required_when_configured(start_server: Any, sklearn_model: Any) -> None:
    path, model, x = sklearn_model
    srv = start_server(str(path), MLINFRA_API_KEYS="k-one, k-two")
    body = {"features": x[0].tolist()}
    assert requests.post(srv.url + "/predict", json=body).status_code == 401
    assert requests.post(srv.url + "/predict", json=body, headers={"X-API-Key": "nope"}).status_code == 401
    ok = requests.post(srv.url + "/predict", json=body, headers={"Authorization": "Bearer k-two"})
    assert ok.json() == {"prediction": int(model.predict(x[:1])[0])}
    assert requests.get(srv.url + "/health").status_code == 200  # probes need no key
