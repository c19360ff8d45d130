"""Build settings, configure logging and the event loop, run the server."""

from __future__ import annotations

import asyncio
from typing import Any

from mlinfra.serving import jsonlog
from mlinfra.serving.settings import ServingSettings


def run(overrides: dict[str, Any]) -> int:
    settings = ServingSettings(**overrides)
    jsonlog.configure(settings.log_level)
    from mlinfra.serving.server import serve

    try:
        import uvloop  # faster loop when installed (it is in the image); asyncio otherwise
    except ImportError:
        return asyncio.run(serve(settings))
    return uvloop.run(serve(settings))
