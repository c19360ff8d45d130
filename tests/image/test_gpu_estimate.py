"""bench/gpu_image_estimate.py's zip central-directory reader, offline: zips made here with
the stdlib, served by a loopback HTTP server that honours Range (or read as file:// URLs)."""

from __future__ import annotations

import importlib.util
import io
import re
import sys
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.support.loopback import http_server, running

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("gpu_image_estimate", ROOT / "bench/gpu_image_estimate.py")
assert _spec is not None
assert _spec.loader is not None
est = importlib.util.module_from_spec(_spec)
sys.modules["gpu_image_estimate"] = est  # dataclasses resolve their module by name
_spec.loader.exec_module(est)


class _Files:
    """What the server serves: path -> bytes, and the Range headers it was asked for."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.ranges: list[str] = []
        self.honour_range = True


def _handler(files: _Files) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.data.get(self.path)
            if body is None:
                self.send_error(404)
                return
            header = self.headers.get("Range")
            files.ranges.append(header or "")
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", header or "")
            if not files.honour_range or m is None:
                self._send(200, body, {})
                return
            first, last = m.groups()
            if first == "":  # suffix range: the last N bytes (all of a shorter file)
                start, end = max(0, len(body) - int(last)), len(body) - 1
            else:
                start, end = int(first), min(int(last) if last else len(body) - 1, len(body) - 1)
            part = body[start : end + 1]
            self._send(206, part, {"Content-Range": f"bytes {start}-{end}/{len(body)}"})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, _Files]]:
    files = _Files()
    with running(http_server(_handler(files))) as port:
        yield f"http://127.0.0.1:{port}", files


def _truth(data: bytes) -> tuple[int, int, int]:
    """(uncompressed bytes, .py bytes, files) as the stdlib's zipfile reads the archive."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    return (
        sum(i.file_size for i in infos),
        sum(i.file_size for i in infos if i.filename.endswith(".py")),
        len(infos),
    )


def _assert_reads(sizes: est.ZipSizes, data: bytes) -> None:
    assert (sizes.uncompressed, sizes.py, sizes.files) == _truth(data)


def _wheel_like() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pkg/", b"")  # a directory entry: no bytes, not a file
        zf.writestr("pkg/__init__.py", b"x = 1\n" * 500)
        zf.writestr("pkg/sub/mod.py", b"def f():\n    return 2\n" * 300)
        zf.writestr("pkg/lib.so", bytes(range(256)) * 400)
        zf.writestr("pkg-1.0.dist-info/RECORD", b"pkg/__init__.py,,\n")
    return buf.getvalue()


def _assert_reads_over_http_and_file(server: tuple[str, _Files], path: Path, data: bytes) -> None:
    """The same archive read through the Range server and as a file:// URL."""
    base, files = server
    files.data[f"/{path.name}"] = data
    _assert_reads(est.zip_sizes(f"{base}/{path.name}"), data)
    path.write_bytes(data)
    _assert_reads(est.zip_sizes(path.as_uri()), data)


def test_reads_a_small_wheel_over_http_range(server: tuple[str, _Files]) -> None:
    base, files = server
    data = _wheel_like()
    files.data["/pkg.whl"] = data
    sizes = est.zip_sizes(f"{base}/pkg.whl")
    _assert_reads(sizes, data)
    assert sizes.py_files == 2
    assert sizes.dirs == 3  # pkg, pkg/sub, pkg-1.0.dist-info
    assert sizes.py_dirs == 2  # pkg, pkg/sub
    assert all(r.startswith("bytes=") for r in files.ranges)  # never the whole file


def test_reads_a_force_zip64_entry_over_http_and_file_url(server: tuple[str, _Files], tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        with zf.open("big/data.bin", "w", force_zip64=True) as f:
            f.write(b"\x00\x01" * 50_000)
        zf.writestr("big/__init__.py", b"pass\n")
    data = buf.getvalue()
    _assert_reads_over_http_and_file(server, tmp_path / "big.whl", data)


def test_reads_zip64_end_records_and_extra_fields(
    server: tuple[str, _Files], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real ZIP64 archive needs 4 GiB or 65536 entries; with zipfile's limits lowered it
    # writes the same structures (ZIP64 EOCD record and locator, 0xFFFFFFFF sizes and
    # offsets in the central directory with their 0x0001 extra fields) for a few KB.
    with monkeypatch.context() as m:
        m.setattr(zipfile, "ZIP64_LIMIT", 100)
        m.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.writestr("a/small.py", b"x")  # under the limit: only its offset may need ZIP64
            zf.writestr("a/big.py", b"y = 2\n" * 100)
            zf.writestr("b/big.bin", b"z" * 5000)
        data = buf.getvalue()
    assert b"PK\x06\x06" in data  # the ZIP64 end of central directory record
    assert b"PK\x06\x07" in data  # and its locator
    assert b"\xff\xff\xff\xff" in data[data.rfind(b"PK\x01\x02") :]
    _assert_reads_over_http_and_file(server, tmp_path / "z64.whl", data)


def test_central_directory_beyond_the_tail_read(server: tuple[str, _Files], tmp_path: Path) -> None:
    # torch's central directory is larger than the first (tail) read: a second Range request
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(3000):
            zf.writestr(f"pkg/{'d' * 80}/m{i}.py", b"v = %d\n" % i)
        zf.writestr("pkg/blob.bin", b"\xaa" * 300_000)
        zf.comment = b"c" * 60_000  # the EOCD is then not at the file's end either
    data = buf.getvalue()
    _assert_reads_over_http_and_file(server, tmp_path / "many.whl", data)
    assert len(server[1].ranges) == 2


def test_a_server_without_range_support_is_refused(server: tuple[str, _Files]) -> None:
    base, files = server
    files.data["/pkg.whl"] = _wheel_like()
    files.honour_range = False
    with pytest.raises(OSError, match="no Range support"):
        est.zip_sizes(f"{base}/pkg.whl")


def test_not_a_zip_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.whl"
    path.write_bytes(b"not a zip" * 10)
    with pytest.raises(ValueError, match="end of central directory"):
        est.zip_sizes(path.as_uri())


def test_cache_rereads_nothing_it_knows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = tmp_path / "pkg.whl"
    wheel.write_bytes(_wheel_like())
    monkeypatch.setattr(est, "ssl_context", lambda: None)
    cache = est.SizeCache(tmp_path / "cache.json")
    first = cache.sizes(wheel.as_uri())
    wheel.unlink()  # a second read would now fail
    assert est.SizeCache(tmp_path / "cache.json").sizes(wheel.as_uri()) == first


def test_layer_bytes_add_pyc_and_tar_headers() -> None:
    s = est.ZipSizes(uncompressed=10_000, py=1_000, files=3, py_files=2, dirs=2, py_dirs=1)
    expected = 10_000 + round(est.PYC_PER_PY * 1_000) + 768 * (3 + 2) + 512 * (2 + 1)
    assert est.installed_bytes(s) == expected


def test_a_local_version_wheel_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # e.g. torch's +cpu build from a local wheel directory: not what the GPU image installs
    monkeypatch.setattr(est, "resolve", lambda reqs: [est.Wheel("torch", "2.13.0+cpu", "file:///x.whl")])
    with pytest.raises(RuntimeError, match="local-version"):
        est.estimate(["torch==2.13.0"], cache=None, overhead=0)  # type: ignore[arg-type]
