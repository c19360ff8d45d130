"""A small HTTP/1.1 server: asyncio protocol + httptools (the parser uvicorn uses).

Why not a framework: the runtime needs a handful of fixed routes, and owning the connection
lets it reject oversized bodies from the headers alone (413 before a byte of body is
buffered), answer `Expect: 100-continue`, keep idle connections longer than the ALB's idle
timeout, and drain on SIGTERM, with a per-request cost several times below an ASGI stack.
Responses on one connection go out in request order (pipelining-safe).
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import cast

import httptools

log = logging.getLogger("mlinfra.serving.http")

_REASONS = {s.value: s.phrase.encode() for s in http.HTTPStatus}


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int
    keepalive_timeout_s: float
    max_pipelined: int = 32


class Request:
    __slots__ = ("body", "error", "headers", "keep_alive", "method", "path")

    def __init__(self, method: str, path: str, headers: dict[str, str], keep_alive: bool) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.keep_alive = keep_alive
        self.body = b""
        # Set when the protocol itself must answer (413); the handler is then not called.
        self.error: Response | None = None


class Response:
    __slots__ = ("body", "content_type", "extra", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: bytes = b"application/json",
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.extra = extra


Respond = Callable[[Response], None]
Handler = Callable[[Request, Respond], None]


class ConnectionSet:
    """Live connections, so shutdown can stop reading and close idle ones."""

    def __init__(self) -> None:
        self.connections: set[HttpProtocol] = set()
        self.draining = False

    def close_idle(self) -> None:
        for conn in list(self.connections):
            conn.close_if_idle()


class HttpProtocol(asyncio.Protocol):
    def __init__(self, handler: Handler, limits: Limits, conns: ConnectionSet) -> None:
        self._handler = handler
        self._limits = limits
        self._conns = conns
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_len = 0
        self._current: Request | None = None
        self._queue: deque[Request] = deque()
        self._busy = False
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None

    # -- connection lifecycle -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the Transport interface without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._conns.connections.add(self)
        self._arm_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._conns.connections.discard(self)
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()

    def close_if_idle(self) -> None:
        if not self._busy and not self._queue and self._transport is not None:
            self._closing = True
            self._transport.close()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(self._limits.keepalive_timeout_s, self._on_timeout)

    def _on_timeout(self) -> None:
        # Idle (or a request trickling in too slowly): close. In-flight work is never cut.
        if not self._busy and self._transport is not None:
            self._closing = True
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._protocol_error(400, b'{"error":"protocol upgrade is not supported"}')
        except httptools.HttpParserError:
            if not self._closing:
                self._protocol_error(400, b'{"error":"malformed HTTP request"}')

    def _protocol_error(self, status: int, body: bytes) -> None:
        req = Request("", "", {}, keep_alive=False)
        req.error = Response(status, body)
        self._enqueue(req)
        self._stop_reading()

    def _stop_reading(self) -> None:
        self._closing = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    # -- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_len = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        method = self._parser.get_method().decode("ascii", "replace")
        path = httptools.parse_url(self._url).path.decode("latin-1")
        req = Request(method, path, self._headers, self._parser.should_keep_alive())
        self._current = req
        length = self._headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._limits.max_body_bytes:
            self._reject_too_large(req)
        elif self._headers.get("expect", "").lower() == "100-continue" and self._transport:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self._closing:
            return
        self._body_len += len(body)
        if self._body_len > self._limits.max_body_bytes and self._current is not None:
            self._reject_too_large(self._current)  # chunked upload that grew too large
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        req = self._current
        if req is None or self._closing:
            return
        self._current = None
        req.body = b"".join(self._body)
        self._body = []
        self._enqueue(req)

    def _reject_too_large(self, req: Request) -> None:
        req.keep_alive = False
        req.error = Response(
            413, b'{"error":"request body exceeds %d bytes"}' % self._limits.max_body_bytes
        )
        self._current = None
        self._enqueue(req)
        self._stop_reading()

    # -- dispatch ---------------------------------------------------------------------------
    def _enqueue(self, req: Request) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._busy:
            self._queue.append(req)
            if len(self._queue) >= self._limits.max_pipelined and self._transport is not None:
                self._transport.pause_reading()
            return
        self._dispatch(req)

    def _dispatch(self, req: Request) -> None:
        self._busy = True
        if req.error is not None:
            self._write(req, req.error)
            return
        try:
            self._handler(req, partial(self._write, req))
        except Exception:  # the handler maps errors itself; this is the last line of defence
            log.exception("unhandled error in request handler")
            self._write(req, Response(500, b'{"error":"internal error"}'))

    def _write(self, req: Request, resp: Response) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            self._busy = False
            return
        keep_alive = req.keep_alive and not self._conns.draining and req.error is None
        head = [
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
            % (
                resp.status,
                _REASONS.get(resp.status, b"Unknown"),
                resp.content_type,
                len(resp.body),
            )
        ]
        head.extend(b"%s: %s\r\n" % kv for kv in resp.extra)
        if not keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        head.append(resp.body)
        transport.write(b"".join(head))
        self._busy = False
        if not keep_alive:
            self._closing = True
            self._queue.clear()
            transport.close()
            return
        if self._queue:
            if len(self._queue) < self._limits.max_pipelined:
                transport.resume_reading()
            self._dispatch(self._queue.popleft())
        else:
            self._arm_timer()
