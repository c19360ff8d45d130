"""Small, process-local checks: settings defaults, the build-time fetch CLI, metric names."""

from __future__ import annotations

import ast
import hashlib
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mlinfra.serving import metric_names
from mlinfra.serving.fetch import main as fetch_main
from mlinfra.serving.settings import ServingSettings


def test_settings_defaults_and_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLINFRA_MODEL_URI", "s3://b/m.skops")
    monkeypatch.setenv("MLINFRA_MAX_BATCH_SIZE", "8")
    s = ServingSettings()
    assert s.model_uri == "s3://b/m.skops"
    assert s.max_batch_size == 8
    assert s.keepalive_timeout_s > 60  # outlives the ALB's 60 s idle timeout
    assert s.trusted_pickle is False
    with pytest.raises(ValidationError, match="framework must be one of"):
        ServingSettings(framework="keras")


def test_metric_names_module_is_plain_strings() -> None:
    tree = ast.parse(Path(metric_names.__file__).read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [getattr(n, "module", None) for n in imports] == ["__future__"]
    assert len(set(metric_names.ALL_METRICS)) == 7
    assert all(name.startswith("mlinfra_") for name in metric_names.ALL_METRICS)


def test_fetch_cli_copies_and_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "m.skops"
    src.write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    assert fetch_main([str(src), "--out", str(tmp_path / "out"), "--sha256", digest]) == 0
    assert (tmp_path / "out/m.skops").read_bytes() == b"weights"
    assert digest in capsys.readouterr().out
    assert fetch_main([str(src), "--out", str(tmp_path / "o2"), "--sha256", "0" * 64]) == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    assert not (tmp_path / "o2/m.skops").exists()


def test_idle_keepalive_connection_closed_after_timeout(start_server: Any, sklearn_model: Any) -> None:
    srv = start_server(str(sklearn_model[0]), MLINFRA_KEEPALIVE_TIMEOUT_S="1")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
        t0 = time.monotonic()
        assert sock.recv(4096) == b""  # the server closes the idle connection
        assert 0.8 < time.monotonic() - t0 < 5
