"""Secrets Manager GetValue for one secret (the AWS JSON 1.1 protocol: a signed POST to '/'
naming the operation in X-Amz-Target).

Endpoint: AWS_ENDPOINT_URL_SECRETS_MANAGER, then AWS_ENDPOINT_URL, else
https://secretsmanager.<region>.<domain> (amazonaws.com, amazonaws.com.cn in China).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping

from mlinfra.serving.aws.credentials import region, resolve, service_endpoint
from mlinfra.serving.aws.sigv4 import sign
from mlinfra.serving.aws.transport import ATTEMPTS, AwsError, dns_suffix, host_header, open_url, pause_before


def _arn_region(secret_id: str) -> str | None:
    parts = secret_id.split(":")
    return parts[3] or None if len(parts) > 6 and parts[0] == "arn" else None


def get_secret_string(secret_id: str, environ: Mapping[str, str] | None = None, timeout: float = 5.0) -> str | None:
    """The secret's SecretString (None for a binary-only secret). Raises AwsError."""
    env = os.environ if environ is None else environ
    creds = resolve(env)
    # An ARN names the secret's region, which is where it must be read; a bare name needs
    # the configured one.
    region_name = _arn_region(secret_id) or region(env)
    if not region_name:
        raise AwsError(f"no AWS region for {secret_id!r}: set AWS_REGION or use the secret's ARN")
    url = (
        service_endpoint(env, "SECRETS_MANAGER") or f"https://secretsmanager.{region_name}.{dns_suffix(region_name)}"
    ) + "/"
    body = json.dumps({"SecretId": secret_id}).encode()
    headers = {
        "Host": host_header(url),
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "secretsmanager.GetSecretValue",
        "User-Agent": "mlinfra-serving",
    }
    last: AwsError | None = None
    for attempt in range(ATTEMPTS):
        if attempt:
            pause_before(attempt)
        signed = sign("POST", url, headers, hashlib.sha256(body).hexdigest(), creds, region_name, "secretsmanager")
        try:
            resp = open_url("POST", url, signed, body, timeout=timeout)
            status, payload = resp.status, resp.read_all()
        except AwsError as exc:
            if not exc.retryable:  # a bad AWS_CA_BUNDLE, proxy URL or certificate
                raise
            last = exc
            continue
        try:
            data = json.loads(payload) if payload else {}
        except ValueError:
            data = {}
        if status == 200:
            value = data.get("SecretString") if isinstance(data, dict) else None
            return value if isinstance(value, str) else None
        # "__type" may carry a namespace: "com.amazonaws.secretsmanager#ResourceNotFoundException".
        code = str(data.get("__type", f"HTTP{status}")).rsplit("#", 1)[-1] if isinstance(data, dict) else ""
        message = str(data.get("message") or data.get("Message") or "") if isinstance(data, dict) else ""
        last = AwsError(f"{code} ({status}){': ' + message if message else ''}", status, code)
        if not last.retryable:
            raise last
    assert last is not None
    raise last
