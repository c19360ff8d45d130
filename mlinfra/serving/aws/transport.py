"""One HTTP exchange over http.client, and the error every AWS call raises.

http.client rather than urllib.request: urllib follows redirects and turns statuses into
exceptions, while a signed AWS request must go exactly where it was signed for and the
callers need the status and body of an error answer to say what went wrong.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

# Errors a caller may retry: the connection failed or was cut, or the server is unwell.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class AwsError(Exception):
    """An AWS call failed. `status` is None when no HTTP answer arrived at all."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRYABLE_STATUSES


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    raw: http.client.HTTPResponse
    conn: http.client.HTTPConnection

    def read_all(self) -> bytes:
        try:
            return self.raw.read()
        finally:
            self.close()

    def set_timeout(self, seconds: float) -> None:
        # Bounds the next socket read, so a caller with a deadline can shrink it as time runs.
        if self.conn.sock is not None:
            self.conn.sock.settimeout(seconds)

    def close(self) -> None:
        self.raw.close()
        self.conn.close()


_TLS: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    global _TLS
    if _TLS is None:  # built once: loading the CA bundle costs a few milliseconds
        _TLS = ssl.create_default_context()
    return _TLS


def open_url(method: str, url: str, headers: Mapping[str, str], body: bytes = b"", timeout: float = 10.0) -> Response:
    """Send the request and return once the status line and headers are in; the body is left
    to the caller. Connection failures and timeouts become AwsError(status=None)."""
    parts = urllib.parse.urlsplit(url)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout, context=_tls())
    elif parts.scheme == "http":
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    else:
        raise AwsError(f"unsupported endpoint scheme in {url!r}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        # skip_host/skip_accept_encoding: the Host header is part of what was signed, so
        # the caller's copy is sent and http.client must not add its own.
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body or method in ("POST", "PUT"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        raw = conn.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise AwsError(f"{method} {parts.scheme}://{parts.netloc}{parts.path}: {type(exc).__name__}: {exc}") from exc
    return Response(raw.status, raw.headers, raw, conn)


def host_header(url: str) -> str:
    """The Host value for `url`: the port only when it is not the scheme's default (as the
    SDKs sign it; a signature over 'host:443' would not match what S3 computes)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default:
        host += f":{parts.port}"
    return host
