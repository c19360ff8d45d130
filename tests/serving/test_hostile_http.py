"""Hostile clients against a real server process: limits before auth, auth that fails closed,
write backpressure, Upgrade, pipelining across SIGTERM, refusals counted in /metrics."""

from __future__ import annotations

import contextlib
import re
import select
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

ROW = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
BODY = b'{"features": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}'


@pytest.fixture(scope="module")
def server(start_server: Any, sklearn_model: tuple[Path, Any, np.ndarray]) -> Any:
    return start_server(str(sklearn_model[0]), MLINFRA_MAX_CONNECTIONS="16")


def exchange(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes on a fresh connection; read until the server closes (or goes quiet)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def statuses(answer: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


def counted(url: str, route: str, status: int) -> float:
    text = requests.get(url + "/metrics").text
    series = f'mlinfra_requests_total{{model="model",route="{route}",status="{status}"}} '
    found = next((line for line in text.splitlines() if line.startswith(series)), None)
    return float(found.rsplit(" ", 1)[1]) if found else 0.0


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


# -- bounded before anything else runs ---------------------------------------------------


def test_long_request_target_is_414(server: Any) -> None:
    answer = exchange(server.port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert statuses(answer) == [414]


def test_huge_header_is_431_without_waiting_for_its_end(server: Any) -> None:
    # The header never ends: the server must refuse once the limit is passed, not buffer on.
    answer, sent = b"", 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < 8 * 2**20 and not answer:
                sock.sendall(b"a" * 65536)
                sent += 65536
                if select.select([sock], [], [], 0.02)[0]:
                    answer = sock.recv(4096)
    assert statuses(answer) == [431]
    assert sent < 2 * 2**20


def test_too_many_headers_is_431(server: Any) -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(500))
    answer = exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert statuses(answer) == [431]


def test_connection_cap_evicts_idle_connections_and_logs(server: Any) -> None:
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(16)]
    try:
        # The cap (16) is full of idle connections: a new client is still served, because
        # the oldest idle one makes room.
        assert requests.get(server.url + "/health", timeout=5).status_code == 200
        assert idle[0].recv(1) == b""  # closed by the server
    finally:
        for sock in idle:
            sock.close()
    assert any(r["msg"] == "connection limit reached" for r in server.log_records())


# -- write backpressure -------------------------------------------------------------------


def test_client_that_does_not_read_cannot_grow_memory(server: Any) -> None:
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setblocking(False)
    try:
        before = rss_bytes(server.proc.pid)
        worst_probe = 0.0
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            # BlockingIOError: the server stopped reading from us, as it should.
            with contextlib.suppress(BlockingIOError):
                sock.send(request)
            t0 = time.monotonic()
            assert requests.get(server.url + "/health", timeout=5).status_code == 200
            worst_probe = max(worst_probe, time.monotonic() - t0)
            time.sleep(0.02)
        grown = rss_bytes(server.proc.pid) - before
    finally:
        sock.close()
    assert grown < 24 * 1024 * 1024, f"RSS grew {grown / 2**20:.1f} MiB"
    assert worst_probe < 1.0


# -- auth fails closed ----------------------------------------------------------------------


@pytest.mark.parametrize("keys", ["", ",", " ", " , "])
def test_keys_that_parse_to_nothing_refuse_to_start(start_server: Any, sklearn_model: Any, keys: str) -> None:
    srv = start_server(str(sklearn_model[0]), ready=False, MLINFRA_API_KEYS=keys)
    assert srv.wait_exit(60) == 2
    assert "MLINFRA_API_KEYS" in srv.logs()
    assert "refusing to start without authentication" in srv.logs()


def test_required_keys_missing_refuse_to_start(start_server: Any, sklearn_model: Any) -> None:
    srv = start_server(str(sklearn_model[0]), ready=False, MLINFRA_REQUIRE_API_KEY="true")
    assert srv.wait_exit(60) == 2
    assert "MLINFRA_REQUIRE_API_KEY" in srv.logs()


def test_odd_auth_header_bytes_are_401_and_leak_nothing(start_server: Any, sklearn_model: Any) -> None:
    srv = start_server(str(sklearn_model[0]), MLINFRA_API_KEYS="k1,k2", MLINFRA_REQUIRE_API_KEY="true")

    def post(headers: bytes) -> list[int]:
        return statuses(
            exchange(
                srv.port,
                b"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s"
                b"Content-Length: %d\r\n\r\n%s" % (headers, len(BODY), BODY),
            )
        )

    assert post(b"X-API-Key: k\xc3\xa9y\r\n") == [401]
    assert post(b"X-API-Key: \xff\xfe\r\n") == [401]
    assert post(b"Authorization: Bearer \xe9\r\n") == [401]
    # A repeated key header is one combined value, not "the last one wins".
    assert post(b"X-API-Key: nope\r\nX-API-Key: k1\r\n") == [401]
    assert post(b"X-API-Key: k1\r\n") == [200]
    text = requests.get(srv.url + "/metrics").text
    assert 'mlinfra_inflight_requests{model="model"} 0.0' in text
    assert "Traceback" not in srv.logs()
    # Nothing is left in flight, so the drain after SIGTERM is immediate (not 25 s).
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.wait_exit(20) == 0
    assert time.monotonic() - t0 < 5


# -- HTTP semantics ---------------------------------------------------------------------------


def test_upgrade_request_gets_exactly_one_answer_with_its_body(server: Any) -> None:
    # What `curl --http2` sends over cleartext: the upgrade is ignored, the POST answered.
    answer = exchange(
        server.port,
        b"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
    )
    assert statuses(answer) == [200]
    assert answer.endswith(b'{"prediction":1}') or answer.endswith(b'{"prediction":0}')
    ws = exchange(
        server.port,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    assert statuses(ws) == [200]


def test_head_allow_and_host(server: Any) -> None:
    head = requests.head(server.url + "/health")
    assert head.status_code == 200
    assert head.content == b""
    not_allowed = requests.get(server.url + "/predict")
    assert not_allowed.status_code == 405
    assert not_allowed.headers["allow"] == "POST"
    assert requests.put(server.url + "/v2/models/model/infer").headers["allow"] == "POST"
    assert statuses(exchange(server.port, b"GET /health HTTP/1.1\r\n\r\n")) == [400]
    http10 = exchange(server.port, b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", timeout=1)
    assert b"connection: keep-alive" in http10.lower()


def test_refusals_are_counted(server: Any) -> None:
    before = {s: counted(server.url, "other", s) for s in (400, 404, 405, 413, 414, 431)}
    requests.get(server.url + "/nope")
    requests.get(server.url + "/predict")
    exchange(server.port, b"GARBAGE\x00 / HTTP/1.1\r\n\r\n")
    exchange(server.port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    exchange(
        server.port,
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
    )
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(500))
    exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    for status in before:
        assert counted(server.url, "other", status) == before[status] + 1, status


def test_pipelined_requests_received_before_sigterm_are_answered(
    start_server: Any, helpers: Any, tmp_path: Path
) -> None:
    model = helpers.make_pickle(tmp_path / "slow.joblib", "SlowModel(0.3, 3)")
    srv = start_server(str(model), MLINFRA_TRUSTED_PICKLE="true", MLINFRA_WARMUP="false")
    body = b'{"features": [1, 2, 3]}'
    one = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(one * 3)
        time.sleep(0.1)  # all three received; the first is in the model
        srv.proc.send_signal(signal.SIGTERM)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    assert statuses(answer) == [200, 200, 200]
    assert answer.count(b'{"prediction":6.0}') == 3
    assert answer.lower().count(b"connection: close") == 1  # only the last one
    assert srv.wait_exit(20) == 0


def test_fd_exhaustion_is_logged(start_server: Any, sklearn_model: Any) -> None:
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        pytest.skip("prlimit not found (Debian package util-linux)")
    srv = start_server(str(sklearn_model[0]))
    # Lower the open-file limit under the running server (below its connection cap).
    subprocess.run([prlimit, "--pid", str(srv.proc.pid), "--nofile=48:48"], check=True)
    socks = []
    try:
        for _ in range(80):
            with contextlib.suppress(OSError):
                socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=2))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if any(r["msg"].startswith("out of file descriptors") for r in srv.log_records()):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no fd-exhaustion log line:\n{srv.logs()}")
    finally:
        for sock in socks:
            sock.close()
