"""A real Prometheus scrapes the runtime; the test reads the runtime's metrics back through
Prometheus's query API (so names, labels and the exposition format are what Prometheus takes)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from mlinfra.serving import metric_names as m

pytestmark = [pytest.mark.tools, pytest.mark.slow]


def query(base: str, promql: str) -> list[dict[str, Any]]:
    resp = requests.get(base + "/api/v1/query", params={"query": promql}, timeout=5)
    resp.raise_for_status()
    return list(resp.json()["data"]["result"])


def test_prometheus_scrapes_runtime_metrics(
    start_server: Any, sklearn_model: Any, tmp_path: Path, helpers: Any
) -> None:
    prometheus = helpers.require_tool("prometheus", "prometheus")
    srv = start_server(str(sklearn_model[0]), MLINFRA_MODEL_NAME="fraud")
    x = sklearn_model[2]
    for row in x:
        assert requests.post(srv.url + "/predict", json={"features": row.tolist()}).ok
    assert requests.post(srv.url + "/predict", data=b"{oops").status_code == 400

    port = helpers.free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: mlinfra\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{srv.port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        series: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not series:
            time.sleep(0.5)
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                series = query(base, f'{m.REQUESTS_TOTAL}{{route="{m.ROUTE_PREDICT}"}}')
        assert series, (tmp_path / "prometheus.log").read_text()
        by_status = {s["metric"][m.LABEL_STATUS]: float(s["value"][1]) for s in series}
        assert by_status == {"200": float(len(x)), "400": 1.0}
        assert all(s["metric"][m.LABEL_MODEL] == "fraud" for s in series)
        assert query(base, f"{m.MODEL_READY}")[0]["value"][1] == "1"
        assert query(base, f"sum({m.BATCH_SIZE}_count)")[0]["value"][1] == str(len(x))
        p99 = query(
            base,
            f"histogram_quantile(0.99, sum by (le) ({m.REQUEST_DURATION_SECONDS}_bucket))",
        )
        assert 0 < float(p99[0]["value"][1]) < 10
        up = query(base, 'up{job="mlinfra"}')
        assert up[0]["value"][1] == "1"
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
