"""End to end with the real tools: the runtime, Prometheus and Alertmanager on 127.0.0.1.

Two runtimes serve a real scikit-learn model under the prod stack's service names: one
healthy, one whose every request times out (504, an error burst). Prometheus scrapes both
with the rule files `mlinfra render` wrote for prod and sends alerts to Alertmanager running
prod's rendered routing, where only each receiver's delivery is swapped for a local webhook
(one URL per receiver, so the test sees which receiver got what). What the test config sets
is timing only: scrape and evaluation every second, instead of the rendered rules' intervals.

The burning service's page must reach the PagerDuty receiver (severity routing) and, because
that route continues, Slack, with its service and severity labels, within a bound; the
healthy service must reach nobody. Every dashboard query must be accepted by this Prometheus
and name only metrics the running runtime exports (or dcgm-exporter's, which it cannot).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mlinfra.serving import metric_names as m
from tests.gate import tools
from tests.gate.conftest import ROOT
from tests.support.promql import metric_names

pytestmark = [pytest.mark.slow, pytest.mark.tools]
STACK = "prod"
HEALTHY, BURNING = "fraud-detector", "search-ranker"
ALERT_BOUND_S = 150  # burn alerts fire within seconds; Alertmanager's group_wait (30 s) dominates
# 10000 rows: the model needs longer than the burning runtime's 1 ms deadline, never the healthy one's.
BODY = {"instances": [[0.1 * j for j in range(6)]] * 10000}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Webhook:
    """Collects Alertmanager webhook posts by path (`/<receiver>`)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                hook.received.append((self.path.strip("/"), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self) -> list[tuple[str, dict[str, str]]]:
        return [
            (receiver, a["labels"])
            for receiver, post in self.received
            for a in post["alerts"]
            if a["status"] == "firing"
        ]


class Process:
    def __init__(self, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, env=env)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()

    def text(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")


def _wait(probe: Callable[[], bool], timeout: float, what: str, procs: list[Process]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            assert p.proc.poll() is None, f"{what}: a process exited:\n{p.text()[-3000:]}"
        with contextlib.suppress(requests.RequestException):
            if probe():
                return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s\n" + "\n".join(p.text()[-2000:] for p in procs))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    np = pytest.importorskip("numpy")
    sio = pytest.importorskip("skops.io")
    ensemble = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int64)
    path = tmp_path_factory.mktemp("model") / "model.skops"
    sio.dump(ensemble.HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(x, y), path)
    return path


def _runtime(model: Path, name: str, log: Path, **env: str) -> tuple[Process, str]:
    port = _free_port()
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MLINFRA_HOST": "127.0.0.1",
        "MLINFRA_PORT": str(port),
        "MLINFRA_MODEL_URI": str(model),
        "MLINFRA_MODEL_NAME": name,
        "MLINFRA_MODEL_CACHE_DIR": str(log.parent / f"cache-{name}"),
        **env,
    }
    return Process([sys.executable, "-m", "mlinfra.serving"], log, full_env), f"127.0.0.1:{port}"


def _local_routing(rendered: Path, webhook: str) -> dict[str, Any]:
    """The rendered routing with each receiver's delivery replaced by a local webhook."""
    config: dict[str, Any] = yaml.safe_load(rendered.read_text())
    for receiver in config["receivers"]:
        if any(key.endswith("_configs") for key in receiver):
            name = receiver["name"]
            receiver.clear()
            receiver.update({"name": name, "webhook_configs": [{"url": f"{webhook}/{name}", "send_resolved": False}]})
    config.pop("templates", None)  # the chart's template directory does not exist here
    return config


@pytest.fixture(scope="module")
def stack_running(
    render_stack: Callable[[str], Path], model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    prometheus, alertmanager, amtool = tools.prometheus(), tools.alertmanager(), tools.amtool()
    out = render_stack(STACK)
    work = tmp_path_factory.mktemp("e2e")
    webhook = Webhook()
    procs: list[Process] = []
    try:
        healthy, healthy_addr = _runtime(model, HEALTHY, work / "healthy.log")
        # Requests outlive a 1 ms deadline: a 504 burst.
        burning, burning_addr = _runtime(model, BURNING, work / "burning.log", MLINFRA_REQUEST_TIMEOUT_S="0.001")
        procs += [healthy, burning]

        am_config = work / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(_local_routing(out / "monitoring" / "alertmanager.yaml", webhook.url)))
        check = subprocess.run([amtool, "check-config", str(am_config)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        am_port = _free_port()
        procs.append(
            Process(
                [
                    alertmanager,
                    f"--config.file={am_config}",
                    f"--storage.path={work / 'am'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                work / "alertmanager.log",
            )
        )

        rule_files = sorted(str(p) for p in (out / "prometheus").glob("*.yaml"))
        assert rule_files
        prom_port = _free_port()
        prom_config = work / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": rule_files,
                    "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                    "scrape_configs": [
                        {"job_name": "mlinfra", "static_configs": [{"targets": [healthy_addr, burning_addr]}]}
                    ],
                }
            )
        )
        procs.append(
            Process(
                [
                    prometheus,
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={work / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                work / "prometheus.log",
            )
        )
        prom = f"http://127.0.0.1:{prom_port}"
        for addr in (healthy_addr, burning_addr):
            _wait(
                lambda a=addr: requests.get(f"http://{a}/ready", timeout=3).status_code == 200,
                120,
                f"runtime {addr} ready",
                procs,
            )
        _wait(lambda: requests.get(f"{prom}/-/ready", timeout=3).status_code == 200, 60, "prometheus ready", procs)
        _wait(
            lambda: requests.get(f"http://127.0.0.1:{am_port}/-/ready", timeout=3).status_code == 200,
            60,
            "alertmanager ready",
            procs,
        )

        stop = threading.Event()

        def traffic() -> None:
            while not stop.is_set():
                for addr in (healthy_addr, burning_addr):
                    with contextlib.suppress(requests.RequestException):
                        requests.post(f"http://{addr}/predict", json=BODY, timeout=10)
                time.sleep(0.1)

        threading.Thread(target=traffic, daemon=True).start()
        yield {
            "webhook": webhook,
            "prometheus": prom,
            "procs": procs,
            "out": out,
            "healthy": f"http://{healthy_addr}",
            "burning": f"http://{burning_addr}",
        }
        stop.set()
    finally:
        for p in reversed(procs):
            p.stop()
        webhook.server.shutdown()
        webhook.server.server_close()


def test_error_burst_pages_the_oncall_receiver_and_healthy_service_sends_nothing(stack_running: dict[str, Any]) -> None:
    webhook: Webhook = stack_running["webhook"]
    # The runtime really answers the burst with 5xx (else the test would prove nothing).
    burst = [requests.post(stack_running["burning"] + "/predict", json=BODY, timeout=10).status_code for _ in range(5)]
    assert 504 in burst, burst
    assert requests.post(stack_running["healthy"] + "/predict", json=BODY, timeout=10).status_code == 200

    def paged() -> bool:
        return any(
            receiver == "ml-oncall" and labels.get("service") == BURNING for receiver, labels in webhook.alerts()
        )

    _wait(paged, ALERT_BOUND_S, "page for the burning service", stack_running["procs"])
    page = next(labels for receiver, labels in webhook.alerts() if receiver == "ml-oncall")
    assert page["alertname"] == "MlinfraAvailabilityBudgetBurn"
    assert (page["service"], page["severity"], page["objective"]) == (BURNING, "critical", "availability")
    # The route continues: the page is posted to Slack too.
    _wait(
        lambda: any(r == "ml-team-slack" and la.get("service") == BURNING for r, la in webhook.alerts()),
        30,
        "page also posted to slack",
        stack_running["procs"],
    )
    assert not [a for a in webhook.alerts() if a[1].get("service") == HEALTHY], webhook.alerts()
    # Only pages go to the on-call receiver.
    assert all(labels["severity"] == "critical" for receiver, labels in webhook.alerts() if receiver == "ml-oncall")


def test_every_dashboard_query_parses_and_names_only_exported_metrics(stack_running: dict[str, Any]) -> None:
    from mlinfra.monitoring.dashboards import queries

    prom: str = stack_running["prometheus"]
    exported = requests.get(stack_running["healthy"] + "/metrics", timeout=5).text
    boards = sorted((stack_running["out"] / "monitoring" / "dashboards").glob("*.json"))
    assert boards
    for board in boards:
        for expr in queries(json.loads(board.read_text())):
            resp = requests.get(
                f"{prom}/api/v1/query", params={"query": expr.replace("$__rate_interval", "1m")}, timeout=10
            )
            assert resp.status_code == 200, (board.name, expr, resp.text)
            assert resp.json()["status"] == "success", (board.name, expr, resp.text)
            for name in metric_names(expr):
                if name.startswith("DCGM_"):
                    assert name in m.DCGM_METRICS, (board.name, name)
                else:
                    assert re.search(rf"^{name}[{{ ]", exported, re.M), (board.name, name, "not exported")
