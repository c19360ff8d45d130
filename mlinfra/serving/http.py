"""A small HTTP/1.1 server: asyncio protocol + httptools (the parser uvicorn uses).

Why not a framework: the runtime needs a handful of fixed routes, and owning the connection
lets it reject oversized bodies from the headers alone (413 before a byte of body is
buffered), answer `Expect: 100-continue`, keep idle connections longer than the ALB's idle
timeout, and drain on SIGTERM, with a per-request cost several times below an ASGI stack.
Responses on one connection go out in request order (pipelining-safe).

Everything a client can make the server hold is bounded before any route (or API key check)
runs: the request line (414), header bytes and count (431), the body (413), the number of
connections, and what is buffered per connection. A client that does not read its responses
stops being read from (write backpressure), so pipelining cannot grow the server's memory.
"""

from __future__ import annotations

import asyncio
import http
import logging
import time
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
    # Request target and header limits, as common front ends apply them (nginx, the ALB).
    max_url_bytes: int = 8192
    max_header_bytes: int = 32768
    max_headers: int = 100
    max_connections: int = 4096


class Request:
    __slots__ = ("body", "error", "head", "headers", "keep_alive", "method", "path", "version")

    def __init__(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        keep_alive: bool,
        version: str = "1.1",
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.keep_alive = keep_alive
        self.version = version
        self.head = method == "HEAD"
        self.body = b""
        # Set when the protocol itself must answer (400/408/413/414/431); no handler runs.
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


def _error(status: int, message: str) -> Response:
    return Response(status, b'{"error":"%s"}' % message.encode())


class _Refusal(Exception):
    """Raised from a parser callback to stop parsing and answer with `response`."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class ConnectionSet:
    """Live connections (oldest first), so shutdown can close idle ones and the connection
    cap can make room by closing the oldest idle one."""

    def __init__(self, max_connections: int = 4096, on_refusal: Callable[[int], None] | None = None) -> None:
        self.connections: dict[HttpProtocol, None] = {}
        self.draining = False
        self.max_connections = max_connections
        # Called with the status of every response the protocol writes itself, so refusals
        # before any route (400, 408, 413, 414, 431, 503) are counted.
        self.on_refusal = on_refusal or (lambda _status: None)
        self._last_full_log = 0.0

    def admit(self, conn: HttpProtocol) -> bool:
        if len(self.connections) >= self.max_connections:
            idle = next((c for c in self.connections if c.idle), None)
            if idle is None:
                self._log_full(evicted=False)
                return False
            self._log_full(evicted=True)
            idle.close()
        self.connections[conn] = None
        return True

    def _log_full(self, *, evicted: bool) -> None:
        now = time.monotonic()
        if now - self._last_full_log >= 5.0:  # at most one line per 5 s under a flood
            self._last_full_log = now
            log.warning(
                "connection limit reached",
                extra={
                    "fields": {
                        "max_connections": self.max_connections,
                        "action": "closed the oldest idle connection" if evicted else "refused a new connection (503)",
                    }
                },
            )

    def close_idle(self) -> None:
        for conn in list(self.connections):
            conn.close_if_idle()

    @property
    def busy(self) -> bool:
        """Any connection still answering a request it has received."""
        return any(c.pending for c in self.connections)


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
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_len = 0
        self._current: Request | None = None
        self._queue: deque[Request] = deque()
        self._busy = False
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        # Head accounting: bytes received since the current request's head began.
        self._in_head = True
        self._head_bytes = 0
        self._completed_in_chunk = False
        self._receiving = False  # a request has begun and is not complete yet
        # A request with `Upgrade` whose body follows as raw bytes (see _upgrade_received).
        self._upgrade: Request | None = None
        self._upgrade_need = 0
        self._write_paused = False
        self._read_paused = False
        self._pumping = False

    # -- connection lifecycle -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the Transport interface without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        if not self._conns.admit(self):
            self._closing = True
            self._transport.write(self._encode(Request("", "", {}, False), _full(), close=True))
            self._conns.on_refusal(503)
            self._transport.close()
            return
        self._arm_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._conns.connections.pop(self, None)
        self._closing = True
        self._queue.clear()  # nobody is left to read these answers
        if self._timer is not None:
            self._timer.cancel()

    @property
    def idle(self) -> bool:
        """Nothing received that still needs an answer (a half-received request does not
        count: it is the connection cap's first victim, as a trickling client should be)."""
        return not self._busy and not self._queue and self._upgrade is None

    @property
    def pending(self) -> bool:
        return self._busy or bool(self._queue)

    def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def close_if_idle(self) -> None:
        if self.idle:
            self.close()

    def pause_writing(self) -> None:
        # The client is not reading: stop producing responses (and reading requests) until
        # the transport's buffer drains.
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()
        self._pump()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        pause = self._write_paused or len(self._queue) >= self._limits.max_pipelined
        if pause and not self._read_paused:
            transport.pause_reading()
        elif not pause and self._read_paused and not self._closing:
            transport.resume_reading()
        self._read_paused = pause

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(self._limits.keepalive_timeout_s, self._on_timeout)

    def _on_timeout(self) -> None:
        # Idle, or a request trickling in too slowly: close. In-flight work is never cut.
        if self._busy or self._queue or self._transport is None:
            return
        if self._receiving or self._upgrade is not None:
            self._transport.write(
                self._encode(
                    Request("", "", {}, False),
                    _error(408, "request not received in time"),
                    close=True,
                )
            )
            self._conns.on_refusal(408)
        self.close()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if self._upgrade is not None:
            self._upgrade_body(data)
            return
        self._completed_in_chunk = False
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgrade_received(data[int(exc.args[0]) :])
            return
        except httptools.HttpParserCallbackError as exc:
            refusal = exc.__context__
            if isinstance(refusal, _Refusal):
                self._protocol_error(refusal.response)
            else:
                log.error("error in HTTP parser callback", exc_info=refusal)
                self._protocol_error(_error(400, "malformed HTTP request"))
            return
        except httptools.HttpParserError:
            if not self._closing:
                self._protocol_error(_error(400, "malformed HTTP request"))
            return
        if self._in_head:
            # httptools buffers a header until it is complete, so a never-ending header is
            # only visible here, as bytes received without the head completing. (Bytes of an
            # earlier request completed in the same chunk are not counted: at most one read
            # more than the limit is ever held.)
            if not self._completed_in_chunk:
                self._head_bytes += len(data)
            if self._head_bytes > self._limits.max_header_bytes:
                self._protocol_error(_too_many_header_bytes(self._limits))

    def _protocol_error(self, response: Response) -> None:
        req = Request("", "", {}, keep_alive=False)
        req.error = response
        self._current = None
        self._stop_reading()
        self._enqueue(req)

    def _stop_reading(self) -> None:
        self._closing = True
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()
            self._read_paused = True

    # -- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._header_bytes = 0
        self._body = []
        self._body_len = 0
        self._receiving = True

    def on_url(self, url: bytes) -> None:
        if self._closing:  # answered already; the rest of this read is not parsed into requests
            return
        self._url += url
        if len(self._url) > self._limits.max_url_bytes:
            raise _Refusal(_error(414, f"request target exceeds {self._limits.max_url_bytes} bytes"))

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._closing:
            return
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self._limits.max_header_bytes:
            raise _Refusal(_too_many_header_bytes(self._limits))
        if len(self._headers) >= self._limits.max_headers:
            raise _Refusal(_error(431, f"more than {self._limits.max_headers} header fields"))
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        previous = self._headers.get(key)
        # Repeated fields combine into one list value (RFC 9110 5.3), so a repeated
        # X-API-Key is one value that matches no key, never "the last one wins".
        self._headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        if self._closing:
            return
        parser = self._parser
        method = parser.get_method().decode("ascii", "replace")
        path = httptools.parse_url(self._url).path.decode("latin-1")
        version = parser.get_http_version()
        req = Request(method, path, self._headers, parser.should_keep_alive(), version)
        self._current = req
        if version == "1.1" and "host" not in self._headers:
            raise _Refusal(_error(400, "HTTP/1.1 request without a Host header"))
        length = self._headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._limits.max_body_bytes:
            self._reject_too_large(req)
        elif (
            self._headers.get("expect", "").lower() == "100-continue"
            and self._transport
            and not self._busy
            and not self._queue
        ):
            # Only when nothing is still owed to this client: an interim response must not
            # overtake the final response of an earlier pipelined request.
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
        self._in_head = True
        self._head_bytes = 0
        self._completed_in_chunk = True
        self._receiving = False
        req = self._current
        if req is None or self._closing:
            return
        self._current = None
        if self._parser.should_upgrade():
            # httptools stops at the head of an upgrade request and hands over the rest as
            # raw bytes (HttpParserUpgrade); the request is dispatched once its body is in.
            self._upgrade = req
            return
        req.body = b"".join(self._body)
        self._body = []
        self._enqueue(req)

    def _reject_too_large(self, req: Request) -> None:
        req.keep_alive = False
        req.error = _error(413, f"request body exceeds {self._limits.max_body_bytes} bytes")
        self._current = None
        self._stop_reading()
        self._enqueue(req)

    # -- Upgrade: not supported, so the request is answered as plain HTTP/1.1 --------------
    def _upgrade_received(self, rest: bytes) -> None:
        req = self._upgrade
        if req is None or self._closing:
            return
        length = req.headers.get("content-length", "0")
        if "transfer-encoding" in req.headers or not length.isdigit():
            self._upgrade = None
            self._protocol_error(_error(400, "protocol upgrade with a chunked body"))
            return
        # The upgrade is ignored (RFC 9110 7.8 allows it). The parser cannot go back to
        # HTTP after an upgrade, so this is the connection's last request: one answer, close.
        req.keep_alive = False
        self._upgrade_need = int(length)
        self._upgrade_body(rest)

    def _upgrade_body(self, data: bytes) -> None:
        req = self._upgrade
        assert req is not None  # only called while an upgrade request is being received
        take = data[: self._upgrade_need - len(req.body)]
        req.body += take
        if len(req.body) < self._upgrade_need:
            return
        self._upgrade = None
        self._stop_reading()
        self._enqueue(req)

    # -- dispatch ---------------------------------------------------------------------------
    def _enqueue(self, req: Request) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.append(req)
        self._update_reading()
        self._pump()

    def _pump(self) -> None:
        # A loop, not recursion: a synchronous answer (e.g. /health) returns here and the next
        # pipelined request is dispatched, so a long pipeline never deepens the stack.
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._queue and not self._busy and not self._write_paused:
                transport = self._transport
                if transport is None or transport.is_closing():
                    self._queue.clear()
                    return
                req = self._queue.popleft()
                self._update_reading()
                self._dispatch(req)
        finally:
            self._pumping = False
        if not self._busy and not self._queue and not self._closing:
            self._arm_timer()

    def _dispatch(self, req: Request) -> None:
        self._busy = True
        if req.error is not None:
            self._conns.on_refusal(req.error.status)
            self._write(req, req.error)
            return
        try:
            self._handler(req, partial(self._write, req))
        except Exception:  # the handler maps errors itself; this is the last line of defence
            log.exception("unhandled error in request handler")
            self._write(req, _error(500, "internal error"))

    def _encode(self, req: Request, resp: Response, *, close: bool) -> bytes:
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
        if close:
            head.append(b"connection: close\r\n")
        elif req.version == "1.0":
            head.append(b"connection: keep-alive\r\n")
        head.append(b"\r\n")
        if not req.head:
            head.append(resp.body)
        return b"".join(head)

    def _write(self, req: Request, resp: Response) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            self._busy = False
            self._queue.clear()
            return
        # While draining, requests already received on this connection are still answered;
        # only the last one announces the close.
        client_done = not req.keep_alive or req.error is not None
        close = client_done or (self._conns.draining and not self._queue)
        transport.write(self._encode(req, resp, close=close))
        self._busy = False
        if close:
            self._closing = True
            self._queue.clear()
            transport.close()
            return
        self._pump()


def _too_many_header_bytes(limits: Limits) -> Response:
    return _error(431, f"request header fields exceed {limits.max_header_bytes} bytes")


def _full() -> Response:
    return Response(503, b'{"error":"too many connections; retry shortly"}', extra=((b"retry-after", b"1"),))
