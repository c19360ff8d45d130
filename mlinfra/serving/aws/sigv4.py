"""AWS Signature Version 4 for request headers (the Authorization header form, not presigned
query strings).

The URL's path is signed exactly as it will be sent: the caller encodes it once (for S3 a key
keeps its '/' and is never normalised: 'a//b' and 'a/./b' are different keys). Services other
than S3 double-encode and normalise, which is the same thing for the only path they get
here, '/'.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping

from mlinfra.serving.aws.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
# A GET has no body; S3 wants its hash in X-Amz-Content-SHA256 all the same.
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Hop-by-hop and tracing headers that proxies add or rewrite on the way (a signature over
# them would break); the same list botocore leaves unsigned, plus Authorization itself.
_UNSIGNED_HEADERS = frozenset(
    {
        "authorization",
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)


def quote_path(path: str) -> str:
    """URI-encode a path once, as SigV4 defines it: everything but unreserved characters and
    '/' ('+' and ' ' become %2B and %20; UTF-8 bytes are percent-encoded)."""
    return urllib.parse.quote(path, safe="/~")


def _canonical_query(query: str) -> str:
    # The caller's query is already encoded; SigV4 wants its pairs sorted, untouched.
    if not query:
        return ""
    pairs = [pair.partition("=") for pair in query.split("&")]
    return "&".join(f"{k}={v}" for k, _, v in sorted(pairs))


def canonical_request(method: str, url: str, headers: Mapping[str, str], payload_hash: str) -> tuple[str, str]:
    """(the canonical request, its signed-headers list) for a request as it will be sent."""
    parts = urllib.parse.urlsplit(url)
    signed: dict[str, list[str]] = {}
    for name, value in headers.items():
        key = name.lower()
        if key not in _UNSIGNED_HEADERS:
            signed.setdefault(key, []).append(" ".join(value.split()))
    names = sorted(signed)
    signed_headers = ";".join(names)
    canonical_headers = "".join(f"{n}:{','.join(signed[n])}\n" for n in names)
    lines = [method.upper(), parts.path or "/", _canonical_query(parts.query), canonical_headers, signed_headers]
    return "\n".join([*lines, payload_hash]), signed_headers


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    payload_hash: str,
    creds: Credentials,
    region: str,
    service: str,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """`headers` plus X-Amz-Date, X-Amz-Security-Token (temporary credentials) and
    Authorization. `headers` must hold Host (and, for S3, X-Amz-Content-SHA256)."""
    now = now or dt.datetime.now(dt.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    out = {k: v for k, v in headers.items() if k.lower() not in ("x-amz-date", "x-amz-security-token")}
    out["X-Amz-Date"] = amz_date
    if creds.token:
        out["X-Amz-Security-Token"] = creds.token
    request, signed_headers = canonical_request(method, url, out, payload_hash)
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = _hmac(("AWS4" + creds.secret_key).encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"{ALGORITHM} Credential={creds.access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
    return out
