"""Secrets Manager references resolved at start, with the process's own AWS identity.

On EKS a secret listed under `mlinfra:secretArns` reaches the pod as
`MLINFRA_SECRET_ARN_<NAME>=<arn>` (the pod's IRSA role may read exactly those ARNs). The runtime
fetches the ones that carry one of its own settings before it builds its settings, so
`MLINFRA_REQUIRE_API_KEY` sees the keys; any failure to fetch one stops the start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SECRET_ARN_PREFIX = "MLINFRA_SECRET_ARN_"
# Secret name (as in the ARN variable) -> the runtime setting its value is.
SETTINGS_FROM_SECRETS = {"API_KEYS": "api_keys"}


class SecretUnavailable(RuntimeError):
    """A referenced secret could not be read; the server must not start without it."""


def secret_overrides(environ: Mapping[str, str], client: Any = None) -> dict[str, str]:
    """Runtime settings whose value is a referenced secret, unless set directly already."""
    wanted = {
        setting: environ[SECRET_ARN_PREFIX + name]
        for name, setting in SETTINGS_FROM_SECRETS.items()
        if environ.get(SECRET_ARN_PREFIX + name) and f"MLINFRA_{setting.upper()}" not in environ
    }
    if not wanted:
        return {}
    if client is None:
        try:
            import boto3
        except ImportError:
            raise SecretUnavailable(
                "boto3 is not installed, so secrets referenced by MLINFRA_SECRET_ARN_* cannot be read"
            ) from None
        client = boto3.client("secretsmanager")
    out = {}
    for setting, arn in wanted.items():
        try:
            value = client.get_secret_value(SecretId=arn).get("SecretString")
        except Exception as exc:  # botocore's errors, no credentials, no network: all fatal
            raise SecretUnavailable(
                f"could not read {arn} for MLINFRA_{setting.upper()}: {type(exc).__name__}"
            ) from None
        if not value:
            raise SecretUnavailable(f"{arn} (for MLINFRA_{setting.upper()}) has no string value")
        out[setting] = value
    return out
