"""Process lifecycle: listen, load the model in the background, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

import prometheus_client

from mlinfra.serving.app import App
from mlinfra.serving.errors import ModelLoadError
from mlinfra.serving.http import ConnectionSet, HttpProtocol, Limits
from mlinfra.serving.metrics import Metrics
from mlinfra.serving.settings import ServingSettings

log = logging.getLogger("mlinfra.serving")


async def serve(settings: ServingSettings) -> int:
    """Run until SIGTERM/SIGINT (exit 0 after draining) or a model load failure (exit 1)."""
    loop = asyncio.get_running_loop()
    # `_created` series double the exposition size and no alert uses them.
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    metrics = Metrics(settings.model_name)
    executor = ThreadPoolExecutor(settings.inference_threads, thread_name_prefix="mlinfra-model")
    app = App(settings, metrics, executor)
    conns = ConnectionSet()
    limits = Limits(settings.max_body_bytes, settings.keepalive_timeout_s)
    server = await loop.create_server(
        lambda: HttpProtocol(app.handle, limits, conns),
        settings.host,
        settings.port,
        backlog=1024,
        reuse_address=True,
    )
    log.info("listening", extra={"fields": {"host": settings.host, "port": settings.port}})

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    load = asyncio.ensure_future(app.load())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({load, stopping}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if load.done() and load.exception() is not None:
        exc = load.exception()
        msg = str(exc) if isinstance(exc, ModelLoadError) else repr(exc)
        log.error("model load failed; exiting", extra={"fields": {"error": msg}})
        code = 1
    else:
        await stopping
        log.info("shutdown: not ready, draining in-flight requests")
    app.begin_drain()
    conns.draining = True
    # Stop accepting new connections; requests already on open connections are still
    # answered (with `connection: close`) so nothing sent before the signal is lost.
    server.close()
    drained = await app.wait_idle(settings.drain_timeout_s)
    if not drained:
        log.warning("drain timeout reached with requests in flight")
    conns.close_idle()
    for conn_task in (load, stopping):
        conn_task.cancel()
    app.close()
    await asyncio.sleep(0)  # let transports flush their close
    executor.shutdown(wait=False, cancel_futures=True)
    log.info("stopped", extra={"fields": {"exit_code": code}})
    return code
