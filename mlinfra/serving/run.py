"""Build settings, configure logging and the event loop, run the server."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from mlinfra.serving import jsonlog
from mlinfra.serving.settings import ServingSettings


def run(overrides: dict[str, Any]) -> int:
    from mlinfra.serving.aws_secrets import SecretUnavailable, secret_overrides

    try:
        overrides = {**secret_overrides(os.environ), **overrides}
    except SecretUnavailable as exc:
        print(f"mlinfra.serving: {exc}; refusing to start", file=sys.stderr)
        return 2
    settings = ServingSettings(**overrides)
    jsonlog.configure(settings.log_level)
    from mlinfra.serving.server import serve

    try:
        import uvloop  # faster loop when installed (it is in the image); asyncio otherwise
    except ImportError:
        return asyncio.run(serve(settings))
    return uvloop.run(serve(settings))
