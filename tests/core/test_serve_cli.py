"""`mlinfra serve services/<file>.py` runs the declared service's model with the real runtime."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.core.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_serve_a_services_file_answers_with_the_models_own_predictions(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    skops_io = pytest.importorskip("skops.io")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 4)), rng.integers(0, 2, size=200)
    model = sklearn_linear.LogisticRegression().fit(x, y)
    model_path = tmp_path / "model.skops"
    skops_io.dump(model, model_path)
    services = tmp_path / "svc.py"
    services.write_text(
        f"from mlinfra import ModelService\nModelService('local-lr', model_uri={str(model_path)!r}, bake_model=True)\n"
    )
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlinfra", "serve", str(services), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        rows = x[:5].tolist()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict",
            data=json.dumps({"instances": rows}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            body = json.loads(r.read())
        assert body["predictions"] == model.predict(np.array(rows)).tolist()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # also closes the pipes


def test_serve_refuses_a_file_with_an_unknown_service() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlinfra", "serve", "services/fraud.py", "--service", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "one of the services declared in the file: fraud-detector" in result.stderr
    assert "Traceback" not in result.stderr
