"""Process lifecycle: listen, load the model in the background, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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
    max_conns = _connection_cap(settings.max_connections)
    conns = ConnectionSet(max_conns, on_refusal=metrics.count_other)
    limits = Limits(settings.max_body_bytes, settings.keepalive_timeout_s, max_connections=max_conns)
    loop.set_exception_handler(_log_loop_error)
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
    fd_watch = asyncio.ensure_future(_watch_fds())
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
    deadline = loop.time() + settings.drain_timeout_s
    drained = await app.wait_idle(settings.drain_timeout_s)
    # Pipelined requests received before the signal are still queued on their connections.
    while drained and conns.busy and loop.time() < deadline:
        await asyncio.sleep(0.01)
    if not drained or conns.busy:
        log.warning("drain timeout reached with requests in flight")
    conns.close_idle()
    for conn_task in (load, stopping, fd_watch):
        conn_task.cancel()
    app.close()
    await asyncio.sleep(0)  # let transports flush their close
    executor.shutdown(wait=False, cancel_futures=True)
    log.info("stopped", extra={"fields": {"exit_code": code}})
    return code


def _connection_cap(configured: int) -> int:
    """Keep the connection cap below the open-file limit (leaving room for the model, logs
    and the executor), so a flood of connections meets the cap, never EMFILE."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    reserve = min(64, soft // 4)
    cap = max(1, min(configured, soft - reserve))
    if cap < configured:
        log.info(
            "connection cap lowered to fit the open-file limit",
            extra={"fields": {"max_connections": cap, "nofile": soft}},
        )
    return cap


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        log.error(
            "out of file descriptors: new connections are being dropped",
            extra={"fields": {"error": str(exc)}},
        )
        return
    loop.default_exception_handler(context)


async def _watch_fds(every_s: float = 2.0) -> None:
    """Log when the process is at its open-file limit. The event loop (libuv under uvloop)
    drops connections it cannot accept without telling Python, so this is the only sign."""
    warned = False
    while True:
        await asyncio.sleep(every_s)
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            used = len(os.listdir("/proc/self/fd"))
        except OSError:  # no /proc, or no fd left to list it with
            used = soft
        full = soft != resource.RLIM_INFINITY and used >= soft - 2
        if full and not warned:
            log.error(
                "out of file descriptors: new connections are being dropped",
                extra={"fields": {"open_files": used, "nofile": soft}},
            )
        warned = full
