"""Servers on 127.0.0.1 for tests: started in a daemon thread, shut down and closed afterwards."""

from __future__ import annotations

import contextlib
import http.server
import socketserver
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def running(server: socketserver.BaseServer) -> Iterator[int]:
    """Serve `server` (bound to a port on 127.0.0.1) until the block ends; yield its port."""
    # A short poll interval: shutdown() waits for the loop to notice, once per test.
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield int(server.server_address[1])  # type: ignore[index]
    finally:
        server.shutdown()
        server.server_close()


def http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)


Routes = dict[tuple[str, str], tuple[int, bytes, dict[str, str]]]


class RouteHandler(http.server.BaseHTTPRequestHandler):
    """Answers from `routes`: (method, path) -> (status, body, headers the request must carry;
    401 when one differs, 404 for an unknown route); `seen` records (method, path, headers)."""

    routes: Routes
    seen: list[tuple[str, str, dict[str, str]]]

    def _answer(self) -> None:
        self.seen.append((self.command, self.path, dict(self.headers)))
        status, body, required = self.routes.get((self.command, self.path), (404, b"", {}))
        if any(self.headers.get(k) != v for k, v in required.items()):
            status, body = 401, b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def route_server(routes: Routes) -> Iterator[tuple[str, list[Any]]]:
    """A RouteHandler server: yields its base URL and the requests it saw."""
    seen: list[Any] = []
    handler = type("Handler", (RouteHandler,), {"routes": routes, "seen": seen})
    with running(http_server(handler)) as port:
        yield f"http://127.0.0.1:{port}", seen
