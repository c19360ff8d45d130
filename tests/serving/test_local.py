"""serve_local(): what `mlinfra serve` calls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]


def run_local(args: str) -> subprocess.Popen[bytes]:
    code = f"from mlinfra.serving.local import serve_local; raise SystemExit(serve_local({args}))"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_serve_local_model_uri(sklearn_model: Any, helpers: Any) -> None:
    path, model, x = sklearn_model
    port = helpers.free_port()
    proc = run_local(f"{str(path)!r}, port={port}")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/ready", timeout=3).status_code == 200:
                break
        except (requests.ConnectionError, requests.Timeout):
            pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    resp = requests.post(url + "/predict", json={"instances": x.tolist()})
    assert resp.json() == {"predictions": model.predict(x).tolist()}
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_serve_local_services_file_without_loader_is_bad_input(tmp_path: Path, helpers: Any) -> None:
    svc = tmp_path / "fraud.py"
    svc.write_text("")
    proc = run_local(f"{str(svc)!r}, port={helpers.free_port()}")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert b"pass the service's model URI instead" in err


def test_serve_local_bad_settings_is_exit_2() -> None:
    proc = run_local("'/m.skops', port=0")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert b"port" in err
    assert b"Traceback" not in err
