"""Shared fixtures: real server processes on 127.0.0.1, tool lookup, models trained here."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes tens of seconds (excluded by quick targets)")
    config.addinivalue_line("markers", "tools: needs an external program (prometheus, buildah, wrk, debootstrap...)")


def require_tool(binary: str, package: str) -> str:
    """Path of `binary`; skip if missing, but fail under CI=true (CI must install it)."""
    found = shutil.which(binary)
    if found:
        return found
    msg = f"{binary} not found: install the Debian package '{package}' (apt-get install -y {package})"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`python -m mlinfra.serving` in its own process, talking on 127.0.0.1."""

    def __init__(self, model_uri: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]),
            "MLINFRA_HOST": "127.0.0.1",
            "MLINFRA_PORT": str(self.port),
            "MLINFRA_MODEL_URI": model_uri,
            "MLINFRA_MODEL_CACHE_DIR": str(log_path.parent / f"cache-{self.port}"),
            **env,
        }
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlinfra.serving"],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_listening(self, timeout: float = 90.0) -> None:
        self._wait(lambda: requests.get(self.url + "/health", timeout=3).status_code == 200, timeout)

    def wait_ready(self, timeout: float = 120.0) -> None:
        self._wait(lambda: requests.get(self.url + "/ready", timeout=3).status_code == 200, timeout)

    def _wait(self, probe: object, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.logs()}")
            # A probe can time out while the loader thread holds the GIL (big imports on a
            # busy machine): that is "not yet", like a refused connection.
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                if probe():  # type: ignore[operator]
                    return
            time.sleep(0.05)
        raise AssertionError(f"server not up in {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.logs().splitlines() if line.startswith("{")]

    def wait_exit(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait_exit(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


@pytest.fixture(scope="module")
def start_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Factory: start_server(model_uri, ready=True, **env) -> Server; all stopped at the end."""
    servers: list[Server] = []
    logs = tmp_path_factory.mktemp("server-logs")

    def start(model_uri: str, *, ready: bool = True, **env: str) -> Server:
        server = Server(model_uri, logs / f"server-{len(servers)}.log", **env)
        servers.append(server)
        if ready:
            server.wait_ready()
        return server

    yield start
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


def tabular_data(n_rows: int = 400, n_features: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_rows, n_features))
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] > 0).astype(np.int64)
    return x, y


@pytest.fixture(scope="session")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, np.ndarray]:
    """A HistGradientBoostingClassifier saved with skops: (path, estimator, sample rows)."""
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = tabular_data()
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    path = tmp_path_factory.mktemp("sk") / "model.skops"
    sio.dump(model, path)
    return path, model, x[:16]


def make_pickle(path: Path, factory: str) -> Path:
    """joblib-dump `slow_models.<factory>` in a child process (so the pickle records the
    importable module name `slow_models`, which the server finds on its PYTHONPATH)."""
    code = f"import joblib, slow_models; joblib.dump(slow_models.{factory}, {str(path)!r})"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(HERE)})
    return path


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The helpers above, as a fixture: test modules must not import `conftest` by name (two
    test folders, and pytest's import modes, make that ambiguous)."""
    return SimpleNamespace(
        free_port=free_port,
        require_tool=require_tool,
        make_pickle=make_pickle,
        tabular_data=tabular_data,
        repo=REPO,
        self_signed_cert=self_signed_cert,
    )


def self_signed_cert(d: Path) -> tuple[Path, Path]:
    """A one-day self-signed certificate for 127.0.0.1 in `d`: (cert, key)."""
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.support.moto_server import running_moto

    with running_moto(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url
