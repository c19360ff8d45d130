"""Micro-batching over HTTP: concurrent requests share model calls, every caller gets its own
rows' results, and a lone request is never held back to wait for company."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests


def batch_stats(url: str) -> tuple[float, float]:
    text = requests.get(url + "/metrics").text
    count = re.search(r'^mlinfra_batch_size_count\{model="model"\} (\S+)$', text, re.M)
    total = re.search(r'^mlinfra_batch_size_sum\{model="model"\} (\S+)$', text, re.M)
    assert count is not None
    assert total is not None
    return float(count.group(1)), float(total.group(1))


@pytest.fixture(scope="module")
def server(start_server: Any, tmp_path_factory: pytest.TempPathFactory, helpers: Any) -> Any:
    model = helpers.make_pickle(tmp_path_factory.mktemp("b") / "m.joblib", "SlowModel(0.05, 3)")
    return start_server(
        str(model),
        MLINFRA_TRUSTED_PICKLE="true",
        MLINFRA_MAX_BATCH_SIZE="64",
        MLINFRA_MAX_BATCH_WAIT_MS="200",
        MLINFRA_WARMUP="false",
    )


def test_concurrent_requests_share_model_calls_and_keep_their_rows(server: Any) -> None:
    calls0, rows0 = batch_stats(server.url)

    def call(i: int) -> tuple[int, Any]:
        rows = [[i, 0, 0], [i, i, 0]]  # row sums i and 2i identify the caller
        return i, requests.post(server.url + "/predict", json={"instances": rows}).json()

    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(call, range(48)))
    for i, body in results:
        assert body == {"predictions": [float(i), float(2 * i)]}
    calls, rows = batch_stats(server.url)
    assert rows - rows0 == 96
    assert calls - calls0 < 24, "48 concurrent requests should need far fewer model calls"


def test_lone_requests_are_not_delayed(server: Any) -> None:
    # Each sequential request is its own batch of one, answered in about the model's time
    # (50 ms), not the model's time plus the 200 ms batch wait, even right after a burst.
    calls0, rows0 = batch_stats(server.url)
    for _ in range(10):
        t0 = time.monotonic()
        assert requests.post(server.url + "/predict", json={"features": [1, 2, 3]}).ok
        assert time.monotonic() - t0 < 0.05 + 0.12
    calls, rows = batch_stats(server.url)
    assert (calls - calls0, rows - rows0) == (10, 10)
