"""One HTTP exchange over http.client, and the error every AWS call raises.

http.client rather than urllib.request: urllib follows redirects and turns statuses into
exceptions, while a signed AWS request must go exactly where it was signed for and the
callers need the status and body of an error answer to say what went wrong.

As botocore does for the endpoints it calls, https goes through HTTPS_PROXY / https_proxy
(NO_PROXY / no_proxy bypass it; a CONNECT tunnel, so the signed request travels end to end
under TLS) and its certificates are checked against AWS_CA_BUNDLE when set, else the system
bundle. Both are read from the process environment, as botocore reads them.
"""

from __future__ import annotations

import base64
import http.client
import os
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

# Errors a caller may retry: the connection failed or was cut, or the server is unwell.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class AwsError(Exception):
    """An AWS call failed. `status` is None when no HTTP answer arrived at all."""

    def __init__(
        self, message: str, status: int | None = None, code: str | None = None, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self._retryable = retryable  # False for a configuration error: trying again cannot help

    @property
    def retryable(self) -> bool:
        if self._retryable is not None:
            return self._retryable
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


_TLS: dict[str | None, ssl.SSLContext] = {}


def _tls() -> ssl.SSLContext:
    # One context per CA bundle, built on first use: loading a bundle costs a few milliseconds.
    bundle = os.environ.get("AWS_CA_BUNDLE")
    context = _TLS.get(bundle)
    if context is None:
        try:
            if bundle is not None and not bundle.strip():
                # botocore refuses a set-but-blank value too (InvalidConfigError).
                raise ValueError("the variable is set but empty")
            context = ssl.create_default_context(cafile=bundle)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            # botocore fails the request too (urllib3 cannot load the file): no silent fallback
            # to the system bundle, which would only fail later and less clearly.
            raise AwsError(
                f"AWS_CA_BUNDLE={bundle!r} cannot be loaded as a CA bundle: {type(exc).__name__}: {exc}",
                code="InvalidCABundle",
                retryable=False,
            ) from None
        _TLS[bundle] = context
    return context


def _https_proxy(host: str, port: int) -> tuple[str, int, dict[str, str]] | None:
    """(proxy host, proxy port, CONNECT headers) for an https endpoint, or None to go direct."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get("https")
    # proxy_bypass_environment is public in urllib but missing from typeshed's stubs.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not proxy or bypass(f"{host}:{port}", proxies):
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy  # as curl and botocore read a bare host:port
    parts = urllib.parse.urlsplit(proxy)
    try:
        proxy_port, bad_port = parts.port, False
    except ValueError:  # not a number, or out of range
        proxy_port, bad_port = None, True
    # Shown without its userinfo: the password must not reach a log.
    shown = f"{parts.scheme}://{parts.hostname}" + (f":{proxy_port}" if proxy_port else "")
    if parts.scheme != "http" or not parts.hostname or bad_port:
        # http.client tunnels over a plain connection to the proxy only; TLS to the proxy
        # itself (or SOCKS) would need a TLS-in-TLS layer it does not have.
        raise AwsError(
            f"HTTPS_PROXY (or https_proxy) is {shown!r}{' with an invalid port' if bad_port else ''}: "
            "only an http://host[:port] proxy URL is supported (the tunnel to the endpoint is TLS either way)",
            code="UnsupportedProxy",
            retryable=False,
        )
    headers = {}
    if parts.username is not None:
        userinfo = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(userinfo.encode()).decode()
    return parts.hostname, proxy_port or 80, headers


def open_url(
    method: str, url: str, headers: Mapping[str, str], body: bytes = b"", timeout: float = 10.0, direct: bool = False
) -> Response:
    """Send the request and return once the status line and headers are in; the body is left
    to the caller. Connection failures and timeouts become AwsError(status=None).

    Plain http (the container-credentials and instance-metadata endpoints, link-local or
    loopback) never goes through a proxy; `direct` keeps an https one off it too."""
    parts = urllib.parse.urlsplit(url)
    conn: http.client.HTTPConnection
    via = ""
    if parts.scheme == "https":
        host, port = parts.hostname or "", parts.port or 443
        proxy = None if direct else _https_proxy(host, port)
        if proxy is None:
            conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls())
        else:
            # TLS runs inside the CONNECT tunnel and is checked against `host`; the proxy
            # credentials go on the CONNECT only, never to AWS.
            conn = http.client.HTTPSConnection(proxy[0], proxy[1], timeout=timeout, context=_tls())
            conn.set_tunnel(host, port, headers=proxy[2])
            via = f" (via proxy {proxy[0]}:{proxy[1]})"
    elif parts.scheme == "http":
        # Never proxied. What botocore 1.44 does for these: ContainerMetadataFetcher builds its
        # session without proxies (never proxied), while IMDSFetcher passes
        # get_environ_proxies(base_url), so HTTP_PROXY would carry http://169.254.169.254 unless
        # NO_PROXY names it (AWS's docs tell users to add it). A proxy cannot reach this
        # instance's link-local metadata, or would answer for its own host, so both go direct;
        # so does an http emulator endpoint (moto, MinIO), which botocore would proxy.
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
    except ssl.SSLCertVerificationError as exc:
        conn.close()
        raise AwsError(
            f"{method} {parts.scheme}://{parts.netloc}{parts.path}{via}: the endpoint's TLS certificate "
            f"was not trusted ({exc.verify_message}); for a private CA set AWS_CA_BUNDLE to its PEM file",
            code="CertificateVerifyFailed",
            retryable=False,
        ) from exc
    except ValueError:
        # http.client refuses a header value with CR/LF and quotes the value, which may be a
        # credential: say which header, never what it holds.
        conn.close()
        bad = next((n for n, v in headers.items() if "\r" in v or "\n" in v), "a header")
        raise AwsError(
            f"{method} {parts.scheme}://{parts.netloc}{parts.path}: {bad} contains a line break "
            "(a credential or token with a trailing newline?)",
            retryable=False,
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise AwsError(
            f"{method} {parts.scheme}://{parts.netloc}{parts.path}{via}: {type(exc).__name__}: {exc}"
        ) from exc
    return Response(raw.status, raw.headers, raw, conn)


ATTEMPTS = 3
"""Tries of an S3 or Secrets Manager call before its last retryable error is raised."""


def pause_before(attempt: int) -> None:
    """Back off before retry `attempt` (1, 2, ...): 0.4 s, then 0.8 s."""
    time.sleep(0.2 * 2**attempt)


def dns_suffix(region: str | None) -> str:
    """The domain of AWS endpoints in `region`'s partition (botocore's endpoints.json
    `dnsSuffix`): the China regions are under amazonaws.com.cn."""
    return "amazonaws.com.cn" if region and region.startswith("cn-") else "amazonaws.com"


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
