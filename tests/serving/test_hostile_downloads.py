"""Model downloads from servers that lie, stall or redirect: a real TLS server on 127.0.0.1
and a real moto S3 server. The download code runs in-process (it is the same function the
server and the build-time bake call); one server process checks what reaches its logs."""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import socket
import ssl
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlinfra.serving.errors import ModelLoadError
from mlinfra.serving.fetch import DownloadLimits, fetch_model
from mlinfra.serving.fetch import main as fetch_main

MODEL = b"PK\x03\x04" + b"m" * 4000  # stands for model bytes; never deserialised here


class _Handler(http.server.BaseHTTPRequestHandler):
    plain_port = 0

    def log_message(self, *_args: Any) -> None:
        pass

    def _send(
        self, status: int, body: bytes, ctype: str = "application/octet-stream", length: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/model.skops":
            self._send(200, MODEL)
        elif path == "/short.skops":
            self._send(200, MODEL[:100], length=len(MODEL))
            self.close_connection = True
        elif path == "/login.skops":
            self._send(200, b"<html><body>sign in</body></html>", "text/html; charset=utf-8")
        elif path == "/sneaky.skops":
            self._send(200, b"\n  <!DOCTYPE html><html>sign in</html>")
        elif path == "/empty.skops":
            self._send(200, b"")
        elif path == "/big.skops":
            self._send(200, b"x" * 300_000)
        elif path == "/redirect.skops":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.plain_port}/model.skops")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/trickle.skops":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(600):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
        else:
            self._send(404, b"not found")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory, helpers: Any) -> Iterator[tuple[str, Path]]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = helpers.self_signed_cert(d)
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.plain_port = plain.server_address[1]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    for srv in (plain, httpd):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", cert
    for srv in (plain, httpd):
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def trust(tls: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls[1]))
    return tls[0]


def test_https_good_download_is_readable_by_others(trust: str, tmp_path: Path) -> None:
    path, _ = fetch_model(f"{trust}/model.skops", tmp_path, None)
    assert path.read_bytes() == MODEL
    # Baked at build time as root, read at run time by uid 10001.
    assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("short.skops", f"got 100 bytes of {len(MODEL)}"),
        ("login.skops", "HTML page"),
        ("sneaky.skops", "HTML page"),
        ("empty.skops", "body is empty"),
        ("redirect.skops", "not https; refusing"),
        ("big.skops", "MLINFRA_MODEL_MAX_BYTES"),
    ],
)
def test_https_bad_bodies_are_refused(trust: str, tmp_path: Path, name: str, message: str) -> None:
    limits = DownloadLimits(max_bytes=100_000, deadline_s=30)
    with pytest.raises(ModelLoadError, match=message):
        fetch_model(f"{trust}/{name}", tmp_path, None, limits)
    assert not (tmp_path / name).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".download-")]


def test_trickling_server_meets_the_deadline_with_progress_logs(
    trust: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mlinfra.serving.fetch")
    t0 = time.monotonic()
    with pytest.raises(ModelLoadError, match="not finished within 2 s"):
        fetch_model(f"{trust}/trickle.skops", tmp_path, None, DownloadLimits(deadline_s=2))
    assert time.monotonic() - t0 < 6
    assert any(r.getMessage() == "model download in progress" for r in caplog.records)


def test_bake_cli_refuses_an_html_page(trust: str, tmp_path: Path, capsys: Any) -> None:
    assert fetch_main([f"{trust}/login.skops", "--out", str(tmp_path)]) == 1
    assert "HTML page" in capsys.readouterr().err


def test_presigned_signature_never_logged(
    tls: tuple[str, Path], start_server: Any, sklearn_model: Any, tmp_path: Path
) -> None:
    base, cert = tls
    secret = "S3CR3TSIGNATURE0123456789abcdef"
    query = f"?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature={secret}"
    bad = start_server(f"{base}/nothing-here.skops{query}", ready=False, SSL_CERT_FILE=str(cert))
    assert bad.wait_exit(120) == 1
    assert "could not download" in bad.logs()
    assert secret not in bad.logs()
    assert "AKIAEXAMPLE" not in bad.logs()
    with pytest.raises(ModelLoadError) as info:
        fetch_model(f"{base}/redirect.skops{query}", tmp_path, None)
    assert secret not in str(info.value)


# -- S3, against a real moto server ------------------------------------------------------------

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def s3(moto: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in {**AWS_ENV, "AWS_ENDPOINT_URL": moto}.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=moto)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket="hostile")
    return client


def test_s3_good_download(s3: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket="hostile", Key="ok/model.skops", Body=MODEL)
    path, _ = fetch_model("s3://hostile/ok/model.skops", tmp_path, None)
    assert path.read_bytes() == MODEL


@pytest.mark.parametrize(
    ("key", "body", "ctype", "message"),
    [
        ("empty/model.skops", b"", "binary/octet-stream", "body is empty"),
        ("html/model.skops", b"<html>denied</html>", "text/html", "HTML page"),
        ("big/model.skops", b"x" * 300_000, "binary/octet-stream", "MLINFRA_MODEL_MAX_BYTES"),
    ],
)
def test_s3_bad_objects_are_refused(s3: Any, tmp_path: Path, key: str, body: bytes, ctype: str, message: str) -> None:
    s3.put_object(Bucket="hostile", Key=key, Body=body, ContentType=ctype)
    with pytest.raises(ModelLoadError, match=message):
        fetch_model(f"s3://hostile/{key}", tmp_path, None, DownloadLimits(max_bytes=100_000))


def test_s3_endpoint_that_never_answers_meets_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)  # accepts TCP (the kernel does), never answers
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{hole.getsockname()[1]}")
    try:
        t0 = time.monotonic()
        with pytest.raises(ModelLoadError, match=r"could not download s3://hostile/m\.skops"):
            fetch_model("s3://hostile/m.skops", tmp_path, None, DownloadLimits(deadline_s=3))
        assert time.monotonic() - t0 < 8
    finally:
        hole.close()
    assert os.listdir(tmp_path) == []
