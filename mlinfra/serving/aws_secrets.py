"""Secrets Manager references resolved at start, with the process's own AWS identity.

On EKS a secret listed under `mlinfra:secretArns` reaches the pod as
`MLINFRA_SECRET_ARN_<NAME>=<arn>` (the pod's IRSA role may read exactly those ARNs). The runtime
fetches the ones that carry one of its own settings before it builds its settings, so
`MLINFRA_REQUIRE_API_KEY` sees the keys; any failure to fetch one stops the start.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

SECRET_ARN_PREFIX = "MLINFRA_SECRET_ARN_"
# Secret name (as in the ARN variable) -> the runtime setting its value is.
SETTINGS_FROM_SECRETS = {"API_KEYS": "api_keys"}


class SecretUnavailable(RuntimeError):
    """A referenced secret could not be read; the server must not start without it."""


def secret_overrides(environ: Mapping[str, str], read: Callable[[str], str | None] | None = None) -> dict[str, str]:
    """Runtime settings whose value is a referenced secret, unless set directly already.
    `read(arn)` returns the secret's string (default: Secrets Manager, mlinfra.serving.aws)."""
    wanted = {
        setting: environ[SECRET_ARN_PREFIX + name]
        for name, setting in SETTINGS_FROM_SECRETS.items()
        if environ.get(SECRET_ARN_PREFIX + name) and f"MLINFRA_{setting.upper()}" not in environ
    }
    if not wanted:
        return {}
    if read is None:
        from mlinfra.serving.aws.secrets import get_secret_string

        read = functools.partial(get_secret_string, environ=environ)

    out = {}
    for setting, arn in wanted.items():
        try:
            value = read(arn)
        except Exception as exc:  # AWS errors, no credentials, no network: all fatal
            raise SecretUnavailable(f"could not read {arn} for MLINFRA_{setting.upper()}: {exc}") from None
        if not value:
            raise SecretUnavailable(f"{arn} (for MLINFRA_{setting.upper()}) has no string value")
        out[setting] = value
    return out
