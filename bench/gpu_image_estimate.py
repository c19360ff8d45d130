"""Estimate the GPU serving images' uncompressed size above the base, per framework, without
building them (no GPU, no Docker, and the CUDA wheels are several GB).

For the mlinfra GPU image and the naive single-stage image (bench/image_sizes.py, with the
framework's GPU pins) this resolves the wheels pip would install for linux x86_64 CPython 3.11
(`pip install --dry-run --report`, nothing downloaded), reads each wheel's uncompressed size
from its zip central directory with HTTP Range requests (a few hundred KB per wheel instead
of the whole file), and adds what else the image's layers hold (the venv, .pyc files pip
compiles at install, mlinfra's runtime code, libgomp for LightGBM).

usage: gpu_image_estimate.py [--cpu] [FRAMEWORK...]  the table (all frameworks by default;
                                                     --cpu: the CPU images, to hold against
                                                     bench/image.sh's measured ones)
       gpu_image_estimate.py --check [FRAMEWORK]     the method against a real CPU install
       gpu_image_estimate.py --check WHEEL           the same for one wheel file or URL
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import os
import ssl
import struct
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.naive_image import naive_requirements  # noqa: E402
from mlinfra.image.requirements import RUNTIME_REQUIREMENTS, framework_requirements  # noqa: E402
from mlinfra.serving.frameworks import FRAMEWORKS  # noqa: E402

# The serving image's target: CPython 3.11 on Debian bookworm (glibc 2.36), as the base
# python:3.11-slim-bookworm / the bench's debootstrap base runs it. pip takes --platform
# tags literally (manylinux_2_28 does not imply manylinux_2_27, the tag of NVIDIA's CUDA 13
# wheels), so every manylinux_2_X the base's glibc accepts is listed, as pip would on it.
GLIBC_MINOR = 36
TARGET = (
    "--only-binary=:all:",
    *(arg for minor in range(GLIBC_MINOR, 4, -1) for arg in ("--platform", f"manylinux_2_{minor}_x86_64")),
    # (no linux_x86_64: the package index holds none; a local wheel directory might)
    *("--platform", "manylinux2014_x86_64", "--platform", "manylinux2010_x86_64", "--platform", "manylinux1_x86_64"),
    *("--python-version", "3.11", "--implementation", "cp"),
)
PIP_INSTALL = (sys.executable, "-m", "pip", "install", "--quiet")
CACHE = Path("/var/tmp/mlinfra-wheel-sizes.json")
MB = 1e6
# .pyc bytes pip writes per byte of .py installed (CPython 3.11, pip's default compileall, one
# optimisation level). Measured by `--check` on scikit-learn's CPU requirements; --check
# prints the ratio it finds, so this constant can be re-measured.
PYC_PER_PY = 1.38
# Debian bookworm's libgomp1 12.2.0-14+deb12u1, Installed-Size 312 KiB: the mlinfra
# LightGBM image installs it with apt (the naive one does not); apt's own bookkeeping in
# that layer is not counted.
LIBGOMP_BYTES = 312 * 1024

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
# The EOCD is 22 bytes plus a comment of at most 65535, and the ZIP64 locator (20) and
# record (56, no extensible data in wheels) sit just before it: one tail read finds all three.
_TAIL = 22 + 65535 + 20 + 56


# ---------------------------------------------------------------------------------------
# pip: resolve without downloading


def pip_config() -> dict[str, str]:
    """pip's effective settings on this machine (`pip config list`, later scopes winning)."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    settings: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        settings[key.split(".", 1)[-1]] = value.strip().strip("'\"")
    return settings


def pip_env(drop_find_links: bool) -> dict[str, str]:
    """The environment for pip: this machine's settings (index, constraints, CA bundle).

    With `drop_find_links`, the same settings less `find-links`: local wheel directories hold
    builds that are not on the package index (e.g. torch's `+cpu` build, which `torch==X`
    matches and pip prefers), and a container build never sees them. pip cannot unset a
    config-file option from the environment, so the config files are skipped and every other
    setting is passed as PIP_* variables instead.
    """
    env = dict(os.environ)
    if not drop_find_links:
        return env
    settings = pip_config()
    env.pop("PIP_FIND_LINKS", None)
    env["PIP_CONFIG_FILE"] = os.devnull  # pip then loads no config file at all
    for key, value in settings.items():
        if key != "find-links":
            env["PIP_" + key.upper().replace("-", "_")] = value
    return env


@dataclasses.dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    url: str


def resolve(requirements: list[str], drop_find_links: bool = True) -> list[Wheel]:
    """The wheels `pip install` of `requirements` would install on the image's platform."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        done = subprocess.run(
            [*PIP_INSTALL, "--dry-run", "--ignore-installed", "--report", str(report), *TARGET, *requirements],
            env=pip_env(drop_find_links),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            # pip's stderr is mostly warnings about the local index mirrors' missing projects;
            # its ERROR lines say why the resolution failed
            errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
            raise RuntimeError(f"pip could not resolve {requirements}: {' / '.join(errors) or done.stderr[-2000:]}")
        installs = json.loads(report.read_text())["install"]
    return [Wheel(i["metadata"]["name"], i["metadata"]["version"], i["download_info"]["url"]) for i in installs]


# ---------------------------------------------------------------------------------------
# zip central directory over HTTP Range (or from disk for file:// URLs)


class RangeReader:
    """Reads byte ranges of a wheel by URL: Range requests for http(s), seek for file://."""

    def __init__(self, url: str, context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self.context = context
        parsed = urllib.parse.urlparse(url)
        self.path = urllib.request.url2pathname(parsed.path) if parsed.scheme == "file" else None
        self.size = os.path.getsize(self.path) if self.path else None

    def tail(self, length: int) -> tuple[int, bytes]:
        """(offset of the returned bytes, the last `length` bytes or the whole file)."""
        if self.path is not None:
            assert self.size is not None
            start = max(0, self.size - length)
            return start, self.read(start, self.size - start)
        # a suffix range: the server says the file's size in Content-Range
        with self._open(f"bytes=-{length}") as resp:
            data = resp.read()
            total = int(resp.headers["Content-Range"].rsplit("/", 1)[1])
        self.size = total
        return total - len(data), data

    def read(self, start: int, length: int) -> bytes:
        if self.path is not None:
            with open(self.path, "rb") as f:
                f.seek(start)
                return f.read(length)
        with self._open(f"bytes={start}-{start + length - 1}") as resp:
            return resp.read()

    def _open(self, byte_range: str):
        req = urllib.request.Request(self.url, headers={"Range": byte_range})
        resp = urllib.request.urlopen(req, timeout=120, context=self.context)
        if resp.status != 206:  # a 200 would be the whole wheel: several GB for some
            resp.close()
            raise OSError(f"{self.url}: no Range support (HTTP {resp.status})")
        return resp


@dataclasses.dataclass(frozen=True)
class ZipSizes:
    uncompressed: int  # sum of the file entries' uncompressed sizes
    py: int  # of which .py files (pip compiles each to a .pyc)
    files: int
    py_files: int
    dirs: int  # distinct directories the files lie in, parents included
    py_dirs: int  # of which holding .py files (each gets a __pycache__/)


def _central_directory_span(reader: RangeReader) -> tuple[int, int, int, int, bytes]:
    """(entries, CD offset, CD size, tail offset, tail) from the EOCD / ZIP64 EOCD record."""
    base, tail = reader.tail(_TAIL)
    at = tail.rfind(_EOCD)
    if at < 0:
        raise ValueError(f"{reader.url}: no end of central directory record")
    entries, cd_size, cd_offset = struct.unpack_from("<xxxxxxxxHII", tail, at + 2)
    loc = at - 20
    if loc >= 0 and tail[loc : loc + 4] == _ZIP64_LOCATOR:
        # ZIP64: the 16/32-bit fields may be saturated; the ZIP64 record has the real ones
        (record_offset,) = struct.unpack_from("<Q", tail, loc + 8)
        if record_offset >= base:
            record = tail[record_offset - base : record_offset - base + 56]
        else:
            record = reader.read(record_offset, 56)
        if record[:4] != _ZIP64_EOCD:
            raise ValueError(f"{reader.url}: bad ZIP64 end of central directory record")
        entries, cd_size, cd_offset = struct.unpack_from("<QQQ", record, 32)
    return entries, cd_offset, cd_size, base, tail


def _zip64_uncompressed(extra: bytes) -> int:
    """The uncompressed size from a ZIP64 extended-information extra field (id 0x0001).

    Called only when the 32-bit size is 0xFFFFFFFF, so the size is the field's first value.
    """
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 0x0001:
            return struct.unpack_from("<Q", extra, at + 4)[0]
        at += 4 + length
    raise ValueError("uncompressed size 0xFFFFFFFF without a ZIP64 extra field")


def parse_central_directory(cd: bytes, entries: int) -> ZipSizes:
    total = py = files = py_files = 0
    dirs: set[bytes] = set()
    py_dirs: set[bytes] = set()
    at = 0
    for _ in range(entries):
        if cd[at : at + 4] != _CENTRAL:
            raise ValueError(f"bad central directory entry at {at}")
        (usize, name_len, extra_len, comment_len) = struct.unpack_from("<IHHH", cd, at + 24)
        name = cd[at + 46 : at + 46 + name_len]
        if usize == 0xFFFFFFFF:
            extra_at = at + 46 + name_len
            usize = _zip64_uncompressed(cd[extra_at : extra_at + extra_len])
        if not name.endswith(b"/"):  # directory entries hold no bytes
            files += 1
            total += usize
            parent = name.rpartition(b"/")[0]
            if name.endswith(b".py"):
                py += usize
                py_files += 1
                py_dirs.add(parent)
            while parent and parent not in dirs:
                dirs.add(parent)
                parent = parent.rpartition(b"/")[0]
        at += 46 + name_len + extra_len + comment_len
    return ZipSizes(total, py, files, py_files, len(dirs), len(py_dirs))


def zip_sizes(url: str, context: ssl.SSLContext | None = None) -> ZipSizes:
    """Uncompressed sizes of a zip's (wheel's) contents, read from its central directory."""
    reader = RangeReader(url, context)
    entries, cd_offset, cd_size, base, tail = _central_directory_span(reader)
    # most wheels' central directory is in the tail already; torch's is not
    in_tail = cd_offset >= base
    cd = tail[cd_offset - base : cd_offset - base + cd_size] if in_tail else reader.read(cd_offset, cd_size)
    return parse_central_directory(cd, entries)


def ssl_context() -> ssl.SSLContext:
    """TLS with the CA bundle pip uses (pip config `cert`), else the system default."""
    cert = os.environ.get("PIP_CERT") or pip_config().get("cert")
    return ssl.create_default_context(cafile=cert) if cert else ssl.create_default_context()


class SizeCache:
    """Wheel URL -> sizes, in a JSON file so reruns need no network for known wheels."""

    def __init__(self, path: Path = CACHE) -> None:
        self.path = path
        self.data: dict[str, dict[str, int]] = json.loads(path.read_text()) if path.exists() else {}
        self.context = ssl_context()

    def sizes(self, url: str) -> ZipSizes:
        if url not in self.data:
            self.data[url] = dataclasses.asdict(zip_sizes(url, self.context))
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(self.data, indent=0, sort_keys=True))
            tmp.replace(self.path)  # whole or not at all, should a run be stopped mid-write
        return ZipSizes(**self.data[url])


# ---------------------------------------------------------------------------------------
# the images


def du_bytes(path: Path) -> int:
    """Apparent size of a tree (`du -sb`)."""
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def tar_bytes(path: Path) -> int:
    """Bytes of the tree as a tar stream: how an image layer's uncompressed size is counted."""
    with subprocess.Popen(["tar", "-cf", "-", "-C", str(path), "."], stdout=subprocess.PIPE) as tar:
        assert tar.stdout is not None
        return sum(len(chunk) for chunk in iter(lambda: tar.stdout.read(1 << 20), b""))


def venv_bytes(with_pip: bool) -> int:
    """A fresh venv's layer bytes: the naive image's `python3 -m venv` (pip and, on 3.11,
    setuptools inside), mlinfra's `--without-pip` one. Measured with this interpreter, whose
    bundled pip may differ a little from the base's."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [] if with_pip else ["--without-pip"]
        python = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([python, "-m", "venv", *args, f"{tmp}/v"], check=True, capture_output=True)
        return tar_bytes(Path(tmp) / "v")


def mlinfra_app_bytes() -> int:
    """/opt/app: the serving runtime's .py files (no .pyc: PYTHONDONTWRITEBYTECODE)."""
    return sum(p.stat().st_size for p in (ROOT / "mlinfra/serving").rglob("*.py"))


def installed_bytes(sizes: ZipSizes) -> int:
    """A wheel's bytes in an image layer: its uncompressed contents, the .pyc pip compiles,
    and the layer tar's own bytes (what `podman image inspect` sizes count): a 512-byte
    header per file and directory, file data padded to 512 bytes (256 on average)."""
    files = sizes.files + sizes.py_files  # each .py gets its .pyc
    dirs = sizes.dirs + sizes.py_dirs  # and each directory of them a __pycache__/
    return sizes.uncompressed + round(PYC_PER_PY * sizes.py) + (512 + 256) * files + 512 * dirs


def mlinfra_requirements(framework: str, gpu: bool = True) -> list[str]:
    # the image that reads its model from S3 at start-up, or has it baked without compiling it:
    # the runtime (its own S3 reader) and the framework (a baked sklearn/xgboost/lightgbm model
    # that compiles exactly drops the framework too: mlinfra.image.context)
    return sorted([*RUNTIME_REQUIREMENTS, *framework_requirements(framework, gpu)])


@dataclasses.dataclass(frozen=True)
class Estimate:
    total: int
    wheels: list[tuple[str, int]]  # (name==version, installed bytes), largest first
    py: int  # .py bytes: the .pyc estimate (PYC_PER_PY x these) is the least certain part


def estimate(requirements: list[str], cache: SizeCache, overhead: int) -> Estimate:
    wheels = resolve(requirements)
    local = [w.name for w in wheels if "+" in w.version]
    if local:  # a local build, not the index's wheel: the estimate would be of another image
        raise RuntimeError(f"local-version wheels resolved: {local}")
    sized = sorted(
        ((f"{w.name}=={w.version}", installed_bytes(cache.sizes(w.url))) for w in wheels),
        key=lambda t: -t[1],
    )
    py = sum(cache.sizes(w.url).py for w in wheels)
    return Estimate(overhead + sum(n for _, n in sized), sized, py)


def table(frameworks: list[str], gpu: bool = True) -> int:
    """The estimate per framework; with gpu=False, of the CPU images bench/image.sh builds
    (its measured sizes are the method's end-to-end check)."""
    cache = SizeCache()
    naive_venv, bare_venv, app = venv_bytes(True), venv_bytes(False), mlinfra_app_bytes()
    argv = " ".join(["python", "bench/gpu_image_estimate.py", *sys.argv[1:]])
    print(f"$ {argv}\n{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"overheads: naive venv {naive_venv / MB:.1f} MB, mlinfra venv {bare_venv / MB:.2f} MB"
        f" + runtime code {app / MB:.2f} MB (+ libgomp {LIBGOMP_BYTES / MB:.2f} MB for lightgbm);"
        f" .pyc at {PYC_PER_PY} x the .py bytes\n"
    )
    rows, details = [], []
    for fw in frameworks:
        naive = estimate(naive_requirements(fw, gpu), cache, naive_venv)
        extra = bare_venv + app + (LIBGOMP_BYTES if fw == "lightgbm" else 0)
        ours = estimate(mlinfra_requirements(fw, gpu), cache, extra)
        top = ", ".join(f"{name} {n / MB:.0f}" for name, n in ours.wheels[:3])
        rows.append(
            f"| {fw} | {naive.total / MB:.0f} | {ours.total / MB:.0f} | {ours.total / naive.total:.2f}x"
            # A baked model that is not compiled installs what one read from S3 does (the
            # runtime reads S3 itself): the last column is the same estimate.
            f" | {top} | {ours.total / MB:.0f} |"
        )
        for image, e in (("naive", naive), ("mlinfra", ours)):
            big = [f"{name} {n / MB:.0f}" for name, n in e.wheels if n >= MB]
            details.append(
                f"{fw} / {image}: {len(e.wheels)} wheels, {e.py / MB:.0f} MB of .py;"
                f" those of 1 MB and more, MB: {', '.join(big)}"
            )
    kind = "GPU" if gpu else "CPU"
    print(
        f"| framework | naive {kind} (MB above base) | mlinfra {kind}, model from S3 (MB above base) | ratio"
        f" | 3 largest wheels (mlinfra), installed MB | mlinfra {kind}, baked model, not compiled (MB) |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("\n".join(details))
    return 0


class RangeFile(io.RawIOBase):
    """A seekable read-only file over RangeReader, for the stdlib's zipfile to read."""

    def __init__(self, reader: RangeReader) -> None:
        self.reader = reader
        if reader.size is None:
            reader.tail(1)  # learns the size
        assert reader.size is not None
        self.size, self.pos = reader.size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: 0, 1: self.pos, 2: self.size}[whence] + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buf) -> int:  # buf: a writable buffer
        n = min(len(buf), self.size - self.pos)
        if n <= 0:
            return 0
        data = self.reader.read(self.pos, n)
        buf[: len(data)] = data
        self.pos += len(data)
        return len(data)


def stdlib_sizes(url: str, context: ssl.SSLContext | None) -> int:
    """The same sum as zipfile reads it (its own EOCD/ZIP64 parsing), over Range requests."""
    with zipfile.ZipFile(io.BufferedReader(RangeFile(RangeReader(url, context)), 1 << 16)) as zf:
        return sum(i.file_size for i in zf.infolist() if not i.is_dir())


def crosscheck_largest(cache: SizeCache, count: int = 5) -> None:
    """The reader against zipfile on the largest real GPU wheels (where ZIP64 would show)."""
    wheels = {w.url: w for fw in ("xgboost", "onnx", "torchscript") for w in resolve(mlinfra_requirements(fw))}
    largest = sorted(wheels.values(), key=lambda w: -cache.sizes(w.url).uncompressed)[:count]
    for w in largest:
        ours, theirs = cache.sizes(w.url).uncompressed, stdlib_sizes(w.url, cache.context)
        verdict = "same" if ours == theirs else f"DIFFERENT: zipfile says {theirs}"
        print(f"  {w.name}=={w.version}: central directory {ours} bytes uncompressed, zipfile: {verdict}")


def check(what: str) -> int:
    """The estimate against a real `pip install --target`: of a framework's CPU requirements,
    or of one wheel file (e.g. a local torch +cpu build: torch's Python code without CUDA)."""
    if what in FRAMEWORKS:
        reqs = framework_requirements(what, gpu=False)
        wheels, label = resolve(reqs), f"{what} CPU ({', '.join(reqs)})"
    else:
        url = what if "://" in what else Path(what).resolve().as_uri()
        wheels, label = [Wheel(Path(what).name, "", url)], Path(what).name
    cache = SizeCache()
    sizes = [cache.sizes(w.url) for w in wheels]
    raw = sum(s.uncompressed for s in sizes)
    py = sum(s.py for s in sizes)
    est = sum(installed_bytes(s) for s in sizes)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "t"
        # exactly the resolved wheels, no resolution of its own; pip compiles .pyc as in the image
        subprocess.run(
            [*PIP_INSTALL, "--no-cache-dir", "--no-deps", "--target", str(target), *(w.url for w in wheels)],
            env=pip_env(drop_find_links=True),
            check=True,
        )
        du, tar = du_bytes(target), tar_bytes(target)
        pyc = sum(p.stat().st_size for p in target.rglob("*.pyc"))

    def err(x: int) -> str:
        return f"{100 * (x - tar) / tar:+.1f}%"

    print(f"{label}: {len(wheels)} wheels, pip install --target")
    print(f"  installed: tar stream {tar / MB:.1f} MB (du -sb {du / MB:.1f} MB)")
    print(f"  .pyc written {pyc / MB:.1f} MB = {pyc / py:.2f} x the {py / MB:.1f} MB of .py (PYC_PER_PY {PYC_PER_PY})")
    print(f"  estimate {est / MB:.1f} MB: {err(est)} against the tar stream, {100 * (est - du) / du:+.1f}% against du")
    print(f"  (uncompressed zip contents alone {raw / MB:.1f} MB: {err(raw)})")
    if what in FRAMEWORKS:
        print("the central-directory reader against the stdlib's zipfile, largest GPU wheels:")
        crosscheck_largest(cache)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check"]:
        return check(argv[1] if len(argv) > 1 else "sklearn")
    gpu = "--cpu" not in argv
    argv = [a for a in argv if a != "--cpu"]
    # default: every framework that installs one (not a model compiled ahead of time, whose
    # image carries no framework and so nothing GPU-specific)
    frameworks = argv or [fw for fw in FRAMEWORKS if framework_requirements(fw, gpu=True)]
    unknown = sorted(set(frameworks) - set(FRAMEWORKS))
    if unknown:
        print(f"unknown framework(s) {unknown}; allowed: {', '.join(FRAMEWORKS)}", file=sys.stderr)
        return 2
    return table(frameworks, gpu)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
