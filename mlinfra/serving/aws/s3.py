"""GET one S3 object, signed with SigV4, its body left to the caller to stream.

Endpoint: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, addressed path-style (what emulators
such as moto and MinIO serve); otherwise virtual-hosted https://<bucket>.s3.<region>.<domain>
(amazonaws.com, amazonaws.com.cn in the China regions), except for a bucket with a dot in its
name, which the *.s3 wildcard certificate does not cover and so goes path-style to
https://s3.<region>.<domain>.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mlinfra.serving.aws.credentials import region, resolve, service_endpoint
from mlinfra.serving.aws.sigv4 import EMPTY_SHA256, quote_path, sign
from mlinfra.serving.aws.transport import ATTEMPTS, AwsError, Response, dns_suffix, host_header, open_url, pause_before

# Without a configured region the SDKs also start at us-east-1; S3 then names the bucket's
# real region in x-amz-bucket-region and the request is signed again for it.
_FALLBACK_REGION = "us-east-1"
_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d$")
_MAX_ERROR_BODY = 64 * 1024


@dataclass
class S3Object:
    response: Response
    length: int | None
    content_type: str | None


def object_url(bucket: str, key: str, region_name: str, endpoint: str | None) -> str:
    path = quote_path(key)
    if endpoint:
        return f"{endpoint}/{bucket}/{path}"
    domain = dns_suffix(region_name)
    if "." in bucket:
        return f"https://s3.{region_name}.{domain}/{bucket}/{path}"
    return f"https://{bucket}.s3.{region_name}.{domain}/{path}"


def _error(resp: Response) -> AwsError:
    try:
        body = resp.raw.read(_MAX_ERROR_BODY)
    except (OSError, ValueError):
        body = b""
    finally:
        resp.close()
    code = message = ""
    try:
        root = ET.fromstring(body)
        code, message = root.findtext("Code") or "", root.findtext("Message") or ""
    except ET.ParseError:
        pass
    code = code or {403: "AccessDenied", 404: "NotFound"}.get(resp.status, f"HTTP{resp.status}")
    return AwsError(f"{code} ({resp.status}){': ' + message if message else ''}", resp.status, code)


def get_object(
    bucket: str,
    key: str,
    timeout: Callable[[], float],
    environ: Mapping[str, str] | None = None,
    attempts: int = ATTEMPTS,
) -> S3Object:
    """Open s3://bucket/key. `timeout()` gives each attempt's socket timeout (it may raise to
    stop retrying at a deadline). Connection errors and 5xx are retried; others raise at once."""
    env = os.environ if environ is None else environ
    creds = resolve(env)
    region_name = region(env) or _FALLBACK_REGION
    endpoint = service_endpoint(env, "S3")
    last: AwsError | None = None
    redirected = False
    attempt = 0
    while attempt < attempts:
        url = object_url(bucket, key, region_name, endpoint)
        headers = {"Host": host_header(url), "X-Amz-Content-SHA256": EMPTY_SHA256, "User-Agent": "mlinfra-serving"}
        signed = sign("GET", url, headers, EMPTY_SHA256, creds, region_name, "s3")
        try:
            resp = open_url("GET", url, signed, timeout=timeout())
        except AwsError as exc:
            if not exc.retryable:  # a bad AWS_CA_BUNDLE, proxy URL or certificate
                raise
            last = exc
        else:
            if resp.status == 200:
                length = resp.headers.get("Content-Length")
                return S3Object(
                    resp, int(length) if length and length.isdigit() else None, resp.headers.get("Content-Type")
                )
            actual = resp.headers.get("x-amz-bucket-region")
            if actual and not _REGION.match(actual):
                actual = None  # it becomes part of a host name: only a region name is used
            last = _error(resp)
            if actual and actual != region_name and not redirected and last.status in (301, 400):
                region_name, redirected = actual, True  # signed for the wrong region: once more
                continue
            if not last.retryable:
                raise last
        attempt += 1
        if attempt < attempts:
            pause_before(attempt)
    assert last is not None
    raise last
