"""mlinfra.serving.aws behind an egress proxy and a private CA, offline: an https fake S3 (and
Secrets Manager, and container-credentials endpoint) on 127.0.0.1 whose certificate, made here
with the openssl CLI, only AWS_CA_BUNDLE makes trusted, and a CONNECT proxy on 127.0.0.1 that
pipes the bytes and records what it was asked for."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import select
import socket
import socketserver
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlinfra.serving.aws import transport
from mlinfra.serving.aws.credentials import resolve
from mlinfra.serving.aws.secrets import get_secret_string
from mlinfra.serving.errors import ModelLoadError
from mlinfra.serving.fetch import fetch_model
from tests.support.loopback import Routes, route_server, running

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
MODEL = b"PK\x03\x04" + b"p" * 5000
PROXY_VARS = ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"]


@pytest.fixture
def cert(tmp_path: Path, helpers: Any) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    openssl = helpers.require_tool("openssl", "openssl")
    crt, key = tmp_path / "ca.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(crt), "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return crt, key


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's own proxy settings must not leak in; a fresh TLS context per test.
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    monkeypatch.setattr(transport, "_TLS", {})
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)


class _Aws(http.server.BaseHTTPRequestHandler):
    """S3 GetObject on any path, Secrets Manager on POST /, container credentials on /creds."""

    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        self.seen.append({"path": self.path, **dict(self.headers)})
        if self.path == "/creds":
            body = json.dumps({"AccessKeyId": "ASIAC", "SecretAccessKey": "s", "Token": "t", "Expiration": "x"})
            self._send(body.encode())
        else:
            self._send(MODEL)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append({"path": self.path, **dict(self.headers)})
        self._send(json.dumps({"SecretString": "api-key-1"}).encode())

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _TlsServer(http.server.ThreadingHTTPServer):
    tls: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake in the request's thread: a client that refuses the certificate must not
        # stall the accept loop.
        with self.tls.wrap_socket(request, server_side=True) as tls_request:
            super().finish_request(tls_request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused handshakes are part of the tests


@pytest.fixture
def https_aws(cert: tuple[Path, Path]) -> Iterator[tuple[int, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    httpd = _TlsServer(("127.0.0.1", 0), type("H", (_Aws,), {"seen": seen}))
    httpd.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    httpd.tls.load_cert_chain(cert[0], cert[1])
    with running(httpd) as port:
        yield port, seen


class _ConnectProxy(socketserver.BaseRequestHandler):
    """CONNECT host:port, then bytes both ways; anything else is recorded and answered 502."""

    seen: list[tuple[str, str, str | None]]  # (method, target, Proxy-Authorization)

    def handle(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
        self.seen.append((method, target, headers.get("proxy-authorization")))
        if headers.get("proxy-authorization") != _basic("user", "p@ss"):
            self.request.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return
        if method != "CONNECT":
            self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            ends = {self.request: upstream, upstream: self.request}
            with contextlib.suppress(OSError):  # a client that drops the tunnel (a refused certificate)
                self._pipe(ends)

    @staticmethod
    def _pipe(ends: dict[socket.socket, socket.socket]) -> None:
        while True:
            ready, _, _ = select.select(list(ends), [], [], 5)
            if not ready:
                return
            for end in ready:
                chunk = end.recv(65536)
                if not chunk:
                    return
                ends[end].sendall(chunk)


@pytest.fixture
def proxy() -> Iterator[tuple[int, list[tuple[str, str, str | None]]]]:
    seen: list[tuple[str, str, str | None]] = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), type("P", (_ConnectProxy,), {"seen": seen}))
    server.daemon_threads = True
    with running(server) as port:
        yield port, seen


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def behind_proxy(
    monkeypatch: pytest.MonkeyPatch,
    cert: tuple[Path, Path],
    https_aws: tuple[int, list[dict[str, str]]],
    proxy: tuple[int, list[tuple[str, str, str | None]]],
) -> tuple[int, list[dict[str, str]], list[tuple[str, str, str | None]]]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"https://localhost:{https_aws[0]}")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", f"https://localhost:{https_aws[0]}")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert[0]))
    # user:p@ss, percent-encoded in the URL as it must be
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:p%40ss@127.0.0.1:{proxy[0]}")
    return https_aws[0], https_aws[1], proxy[1]


def test_the_model_is_read_through_the_proxy_with_its_credentials(behind_proxy: Any, tmp_path: Path) -> None:
    port, s3_seen, proxy_seen = behind_proxy
    assert fetch_model("s3://b/fraud/model.onnx", tmp_path, None)[0].read_bytes() == MODEL
    assert proxy_seen == [("CONNECT", f"localhost:{port}", _basic("user", "p@ss"))]
    (request,) = s3_seen
    assert request["path"] == "/b/fraud/model.onnx"
    assert request["Host"] == f"localhost:{port}"  # the signed Host, not the proxy's
    assert "/us-east-1/s3/aws4_request" in request["Authorization"]
    assert "Proxy-Authorization" not in request  # the proxy's credentials stay with the proxy


def test_secrets_manager_goes_through_the_proxy_too(behind_proxy: Any) -> None:
    port, aws_seen, proxy_seen = behind_proxy
    assert get_secret_string("api-keys") == "api-key-1"
    assert proxy_seen == [("CONNECT", f"localhost:{port}", _basic("user", "p@ss"))]
    assert aws_seen[0]["X-Amz-Target"] == "secretsmanager.GetSecretValue"


@pytest.mark.parametrize("name", ["NO_PROXY", "no_proxy"])
@pytest.mark.parametrize("value", ["localhost", "example.com,.localhost,localhost"])
def test_no_proxy_goes_direct(
    behind_proxy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    _, s3_seen, proxy_seen = behind_proxy
    monkeypatch.setenv(name, value)
    assert fetch_model("s3://b/model.onnx", tmp_path, None)[0].read_bytes() == MODEL
    assert proxy_seen == []
    assert len(s3_seen) == 1


def test_without_the_ca_bundle_the_certificate_is_refused_once(
    behind_proxy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, s3_seen, proxy_seen = behind_proxy
    monkeypatch.delenv("AWS_CA_BUNDLE")
    with pytest.raises(ModelLoadError) as info:
        fetch_model("s3://b/model.onnx", tmp_path, None)
    message = str(info.value)
    assert "TLS certificate was not trusted" in message
    assert "set AWS_CA_BUNDLE" in message
    assert "(via proxy 127.0.0.1:" in message
    assert s3_seen == []
    assert len(proxy_seen) == 1  # a certificate error is not retried


@pytest.mark.parametrize("what", ["missing", "not-pem", "blank"])
def test_a_bad_ca_bundle_is_named(
    behind_proxy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    _, s3_seen, proxy_seen = behind_proxy
    bundle = tmp_path / "no-such-ca.pem"
    if what == "not-pem":
        bundle = tmp_path / "garbage.pem"
        bundle.write_text("not a certificate\n")
    shown = str(bundle) if what != "blank" else " "
    monkeypatch.setenv("AWS_CA_BUNDLE", shown)
    with pytest.raises(ModelLoadError) as info:
        fetch_model("s3://b/model.onnx", tmp_path, None)
    assert f"AWS_CA_BUNDLE={shown!r} cannot be loaded as a CA bundle" in str(info.value)
    assert s3_seen == []
    assert proxy_seen == []


def test_wrong_proxy_credentials_are_the_proxys_407(behind_proxy: Any, tmp_path: Path, monkeypatch: Any) -> None:
    _, s3_seen, proxy_seen = behind_proxy
    port = os.environ["HTTPS_PROXY"].rsplit(":", 1)[1]
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:wrong@127.0.0.1:{port}")
    with pytest.raises(ModelLoadError, match=f"via proxy 127.0.0.1:{port}.*Tunnel connection failed: 407"):
        fetch_model("s3://b/model.onnx", tmp_path, None)
    assert s3_seen == []
    assert proxy_seen[0][2] == _basic("user", "wrong")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:sekrit@127.0.0.1:3128", "'https://127.0.0.1:3128'"),
        ("socks5://user:sekrit@127.0.0.1:1080", "'socks5://127.0.0.1:1080'"),
        ("http://user:sekrit@127.0.0.1:31x8", "'http://127.0.0.1' with an invalid port"),
    ],
)
def test_an_unusable_proxy_url_is_refused_without_showing_its_password(
    behind_proxy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, shown: str
) -> None:
    _, s3_seen, proxy_seen = behind_proxy
    monkeypatch.setenv("HTTPS_PROXY", url)
    with pytest.raises(ModelLoadError) as info:
        fetch_model("s3://b/model.onnx", tmp_path, None)
    message = str(info.value)
    assert f"HTTPS_PROXY (or https_proxy) is {shown}: only an http://host[:port] proxy URL" in message
    assert "sekrit" not in message
    assert s3_seen == []
    assert proxy_seen == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("proxy.internal", ("proxy.internal", 80, {})),  # no scheme: http, port 80
        ("proxy.internal:3128", ("proxy.internal", 3128, {})),
        ("http://proxy.internal", ("proxy.internal", 80, {})),
        ("http://u%3Ax:@10.0.0.1:8080/", ("10.0.0.1", 8080, {"Proxy-Authorization": _basic("u:x", "")})),
    ],
)
def test_proxy_urls(monkeypatch: pytest.MonkeyPatch, url: str, expected: Any) -> None:
    monkeypatch.setenv("https_proxy", url)
    assert transport._https_proxy("bucket.s3.us-east-1.amazonaws.com", 443) == expected
    monkeypatch.setenv("no_proxy", ".amazonaws.com")
    assert transport._https_proxy("bucket.s3.us-east-1.amazonaws.com", 443) is None


_CREDS = json.dumps({"AccessKeyId": "ASIAX", "SecretAccessKey": "s", "Token": "t", "Expiration": "x"}).encode()
# IMDS and a container-credentials endpoint over plain http.
_PLAIN_ROUTES: Routes = {
    ("PUT", "/latest/api/token"): (200, b"imds-token", {}),
    ("GET", "/latest/meta-data/iam/security-credentials/"): (200, b"node-role", {}),
    ("GET", "/latest/meta-data/iam/security-credentials/node-role"): (200, _CREDS, {}),
    ("GET", "/creds"): (200, _CREDS, {}),
}


def test_metadata_and_container_endpoints_never_use_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
    cert: tuple[Path, Path],
    https_aws: tuple[int, list[dict[str, str]]],
    proxy: tuple[int, list[tuple[str, str, str | None]]],
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy[0]}")
    for name in AWS_ENV:
        monkeypatch.delenv(name)
    with route_server(_PLAIN_ROUTES) as (url, seen):
        assert resolve({"AWS_EC2_METADATA_SERVICE_ENDPOINT": url}).access_key == "ASIAX"
        assert seen[0][:2] == ("PUT", "/latest/api/token")
        assert len(seen) == 3
        env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": url + "/creds", "AWS_EC2_METADATA_DISABLED": "true"}
        assert resolve(env).access_key == "ASIAX"
    # An https full URI (EKS Pod Identity style) goes direct as well, as botocore's fetcher does.
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert[0]))
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"https://localhost:{https_aws[0]}/creds",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    assert resolve(env).access_key == "ASIAC"
    assert https_aws[1][-1]["path"] == "/creds"
    assert proxy[1] == []
