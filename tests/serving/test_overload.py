"""Overload, timeouts, readiness during load and SIGTERM draining, over HTTP.

The model is a plain-Python class that sleeps (loaded through the trusted-pickle opt-in), so
the tests control exactly how long each model call takes.
"""

from __future__ import annotations

import http.client
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

ROW = [1.0, 2.0, 3.0]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, helpers: Any) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("slow")
    make_pickle = helpers.make_pickle
    return {
        "slow03": make_pickle(d / "slow03.joblib", "SlowModel(0.3, 3)"),
        "slow05": make_pickle(d / "slow05.joblib", "SlowModel(0.5, 3)"),
        "slow2": make_pickle(d / "slow2.joblib", "SlowModel(2.0, 3)"),
        "slowload": make_pickle(d / "slowload.joblib", "slow_to_load(0.0, 2.0, 3)"),
        "stuckload": make_pickle(d / "stuckload.joblib", "slow_to_load(0.0, 60.0, 3)"),
    }


def post(url: str) -> requests.Response:
    return requests.post(url + "/predict", json={"features": ROW}, timeout=30)


def test_timeout_is_504(start_server: Any, models: dict[str, Path]) -> None:
    srv = start_server(
        str(models["slow2"]),
        MLINFRA_TRUSTED_PICKLE="true",
        MLINFRA_REQUEST_TIMEOUT_S="0.3",
        MLINFRA_WARMUP="false",
    )
    started = time.monotonic()
    resp = post(srv.url)
    assert resp.status_code == 504
    assert "did not finish within 0.3 s" in resp.json()["error"]
    assert time.monotonic() - started < 1.5  # answered at the deadline, not after the model


def test_full_queue_is_fast_429_and_probes_stay_exempt(start_server: Any, models: dict[str, Path]) -> None:
    srv = start_server(
        str(models["slow03"]),
        MLINFRA_TRUSTED_PICKLE="true",
        MLINFRA_MAX_QUEUE="2",
        MLINFRA_MAX_BATCH_SIZE="1",
        MLINFRA_REQUEST_TIMEOUT_S="30",
    )
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(post, srv.url) for _ in range(12)]
        time.sleep(0.2)  # the model is busy and the queue full now
        for path in ("/health", "/ready", "/metrics"):
            t0 = time.monotonic()
            assert requests.get(srv.url + path, timeout=5).status_code == 200, path
            # the queue holds ~12 x 0.3 s of work: an exempt probe answers well before
            assert time.monotonic() - t0 < 0.5, f"{path} was not exempt from the queue"
        results = [f.result() for f in futures]
    codes = sorted(r.status_code for r in results)
    rejected = [r for r in results if r.status_code == 429]
    assert codes.count(200) >= 3  # one running + two queued at least
    assert len(rejected) >= 6
    for r in rejected:
        assert r.headers["Retry-After"] == "1"
        assert r.elapsed.total_seconds() < 1.0  # rejected at once, not after the queue's 3 s
    for r in results:
        if r.status_code == 200:
            assert r.json() == {"prediction": 6.0}


def test_not_ready_while_loading(start_server: Any, models: dict[str, Path]) -> None:
    srv = start_server(str(models["slowload"]), ready=False, MLINFRA_TRUSTED_PICKLE="true")
    srv.wait_listening()
    ready = requests.get(srv.url + "/ready")
    assert ready.status_code == 503
    assert ready.headers["Retry-After"] == "1"
    assert requests.get(srv.url + "/v2/health/ready").status_code == 503
    early = post(srv.url)
    assert early.status_code == 503
    assert "not ready" in early.json()["error"]
    assert 'mlinfra_model_ready{model="model"} 0.0' in requests.get(srv.url + "/metrics").text
    srv.wait_ready(timeout=120)
    assert post(srv.url).json() == {"prediction": 6.0}


def test_sigterm_drains_in_flight_requests(start_server: Any, models: dict[str, Path]) -> None:
    srv = start_server(
        str(models["slow05"]),
        MLINFRA_TRUSTED_PICKLE="true",
        MLINFRA_MAX_BATCH_SIZE="2",
        MLINFRA_REQUEST_TIMEOUT_S="30",
    )
    probe = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    probe.request("GET", "/health")  # open a keep-alive connection before the signal
    assert probe.getresponse().read() == b'{"status":"ok"}'

    results: list[requests.Response] = []
    lock = threading.Lock()

    def call() -> None:
        r = post(srv.url)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.3)  # all eight are in flight: 4 model calls of 0.5 s each
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    probe.request("GET", "/ready")
    ready = probe.getresponse()
    assert ready.status == 503  # load balancers stop sending while we drain
    ready.read()
    for t in threads:
        t.join(30)
    assert [r.status_code for r in results] == [200] * 8
    assert all(r.json() == {"prediction": 6.0} for r in results)
    assert srv.wait_exit(30) == 0
    msgs = [r["msg"] for r in srv.log_records()]
    assert "shutdown: not ready, draining in-flight requests" in msgs
    assert "drain timeout reached with requests in flight" not in msgs
    with pytest.raises(requests.ConnectionError):
        requests.get(srv.url + "/health", timeout=2)


def test_sigterm_while_loading_exits_promptly(start_server: Any, models: dict[str, Path]) -> None:
    srv = start_server(str(models["stuckload"]), ready=False, MLINFRA_TRUSTED_PICKLE="true")
    srv.wait_listening()
    assert requests.get(srv.url + "/ready").status_code == 503
    time.sleep(0.5)  # the loader thread is now inside the 60 s unpickling
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.wait_exit(20) == 0
    assert time.monotonic() - t0 < 10  # not held hostage by the loading thread
