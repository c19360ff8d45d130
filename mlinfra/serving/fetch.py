"""Resolve a model URI to a local file and verify its sha256 before anyone deserialises it.

A download is accepted only if it is whole and plausible: the byte count matches the
server's length, the body is not empty and not an HTML page (a login or error page served
with 200), it stays under the size cap, and the whole transfer finishes within one deadline
(progress is logged meanwhile). https never follows a redirect to plain http. URIs are
logged without their query string, so a presigned URL's signature never reaches a log.

s3:// is read with mlinfra.serving.aws (standard library only, so no boto3 in the image),
imported only inside the s3 branch: file and https models do not pay for it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from mlinfra.serving.errors import ModelLoadError

if TYPE_CHECKING:
    from mlinfra.serving.aws.transport import AwsError

log = logging.getLogger("mlinfra.serving.fetch")

_CHUNK = 1 << 20
_PROGRESS_EVERY_S = 10.0  # or a fifth of the deadline, if shorter
# Per socket operation; the overall deadline bounds the sum.
_SOCKET_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DownloadLimits:
    max_bytes: int = 20 * 1024**3
    deadline_s: float = 900.0


def redact_uri(uri: str) -> str:
    """The URI without query string, fragment or credentials (presigned URLs carry their
    signature in the query)."""
    parsed = urllib.parse.urlsplit(uri)
    if not parsed.scheme:
        return uri
    netloc = parsed.hostname or ""
    if parsed.port is not None:
        netloc += f":{parsed.port}"
    query = "<redacted>" if parsed.query else ""
    return urllib.parse.urlunsplit((parsed.scheme, netloc, parsed.path, query, ""))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_filename(uri: str) -> str:
    """The file name the URI points at (its extension selects the framework)."""
    parsed = urllib.parse.urlparse(uri)
    name = Path(urllib.parse.unquote(parsed.path)).name if parsed.scheme else Path(uri).name
    if not name:
        raise ModelLoadError(f"model URI {redact_uri(uri)!r} does not name a file")
    return name


def fetch_model(
    uri: str,
    cache_dir: Path,
    expected_sha256: str | None,
    limits: DownloadLimits | None = None,
) -> tuple[Path, str]:
    """Return (local path, sha256 hex). Raises ModelLoadError on any failure or mismatch."""
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file"):
        path = Path(urllib.parse.unquote(parsed.path) if scheme == "file" else uri)
        if path.is_dir():
            raise ModelLoadError(f"model path {path} is a directory; point at the model file")
        if not path.is_file():
            raise ModelLoadError(f"model file {path} does not exist")
        if path.stat().st_size == 0:
            raise ModelLoadError(f"model file {path} is empty")
    elif scheme in ("s3", "https"):
        path = _download(uri, scheme, parsed, cache_dir, limits or DownloadLimits())
    else:
        raise ModelLoadError(
            f"model URI scheme {scheme!r} is not supported (allowed: s3://, https://, file://, a path)"
        )
    actual = sha256_file(path)
    if expected_sha256 is not None and not hmac.compare_digest(actual, expected_sha256.lower()):
        raise ModelLoadError(
            f"sha256 mismatch for {redact_uri(uri)}: expected {expected_sha256.lower()}, got {actual}; refusing to load"
        )
    return path, actual


def _download(
    uri: str,
    scheme: str,
    parsed: urllib.parse.ParseResult,
    cache_dir: Path,
    limits: DownloadLimits,
) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / model_filename(uri)
    shown = redact_uri(uri)
    # Write to a temp file in the same directory and rename, so a crash never leaves a
    # truncated model that a later start would treat as complete.
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out:
            transfer = _Transfer(shown, out, limits)
            if scheme == "s3":
                _download_s3(parsed, transfer)
            else:
                _download_https(uri, transfer)
        # mkstemp makes the file 0600; a model baked at build time (as root) must stay
        # readable by the image's unprivileged user.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except ModelLoadError:
        raise
    except Exception as exc:  # any transport failure is a load failure with the URI in it
        raise ModelLoadError(f"could not download {shown}: {exc}") from exc
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


class _Transfer:
    """Copies a body to `out` under the size cap and the deadline, logging progress, and
    checks the result is whole and not an error page."""

    def __init__(self, shown: str, out: BinaryIO, limits: DownloadLimits) -> None:
        self.shown = shown
        self.out = out
        self.limits = limits
        self.started = time.monotonic()
        self.deadline = self.started + limits.deadline_s

    def remaining_s(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ModelLoadError(
                f"could not download {self.shown}: not finished within "
                f"{self.limits.deadline_s:g} s (MLINFRA_DOWNLOAD_TIMEOUT_S)"
            )
        return left

    def socket_timeout_s(self) -> float:
        return max(0.1, min(_SOCKET_TIMEOUT_S, self.remaining_s()))

    def copy(
        self,
        read: Callable[[int], bytes],
        expected: int | None,
        content_type: str | None,
        on_read: Callable[[], None] = lambda: None,
    ) -> None:
        if content_type and content_type.split(";")[0].strip().lower() == "text/html":
            self._refuse_html(f"the server answered with an HTML page ({content_type})")
        if expected is not None and expected > self.limits.max_bytes:
            self._too_big(expected)
        got = 0
        head = b""
        last_log = self.started
        while True:
            self.remaining_s()
            on_read()
            chunk = read(_CHUNK)
            if not chunk:
                break
            got += len(chunk)
            if got > self.limits.max_bytes:
                self._too_big(got)
            if len(head) < 512:
                head += chunk[: 512 - len(head)]
            self.out.write(chunk)
            now = time.monotonic()
            if now - last_log >= min(_PROGRESS_EVERY_S, self.limits.deadline_s / 5):
                last_log = now
                log.info(
                    "model download in progress",
                    extra={
                        "fields": {
                            "uri": self.shown,
                            "bytes": got,
                            "total_bytes": expected,
                            "elapsed_s": round(now - self.started, 1),
                        }
                    },
                )
        if expected is not None and got != expected:
            raise ModelLoadError(
                f"could not download {self.shown}: got {got} bytes of {expected} (connection cut short)"
            )
        if got == 0:
            raise ModelLoadError(f"could not download {self.shown}: the body is empty")
        if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
            self._refuse_html("the body is an HTML page")

    def _refuse_html(self, why: str) -> None:
        raise ModelLoadError(f"could not download {self.shown}: {why}, not a model (a login or error page?)")

    def _too_big(self, size: int) -> None:
        raise ModelLoadError(
            f"could not download {self.shown}: {size} bytes is more than the "
            f"{self.limits.max_bytes} allowed (MLINFRA_MODEL_MAX_BYTES)"
        )


def _download_s3(parsed: urllib.parse.ParseResult, transfer: _Transfer) -> None:
    from mlinfra.serving.aws import s3
    from mlinfra.serving.aws.transport import AwsError

    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise ModelLoadError("s3 URI must look like s3://bucket/key")
    try:
        # Three attempts of at most a third of the remaining deadline each.
        obj = s3.get_object(bucket, key, lambda: max(0.1, min(_SOCKET_TIMEOUT_S, transfer.remaining_s() / 3)))
    except AwsError as exc:
        raise ModelLoadError(f"could not download {transfer.shown}: {_s3_failure(bucket, key, exc)}") from None
    response = obj.response
    try:
        # read1: one socket read at a time (as for https); a body shorter than its
        # Content-Length ends early and copy() reports it.
        transfer.copy(
            response.raw.read1,
            obj.length,
            obj.content_type,
            lambda: response.set_timeout(transfer.socket_timeout_s()),
        )
    finally:
        response.close()


def _s3_failure(bucket: str, key: str, exc: AwsError) -> str:
    code, status = exc.code, exc.status
    if code == "NoSuchBucket":
        return f"there is no bucket {bucket!r} (S3 {code}, {status})"
    if status == 404:
        return f"there is no key {key!r} in bucket {bucket!r} (S3 {code}, {status})"
    if status == 403:
        return (
            f"access denied to key {key!r} in bucket {bucket!r} (S3 {code}, {status}); the service's role "
            "needs s3:GetObject on it (S3 also answers 403 for a missing key if it may not s3:ListBucket)"
        )
    return str(exc)


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    def redirect_request(  # type: ignore[no-untyped-def]
        self, req, fp, code, msg, headers, newurl
    ) -> urllib.request.Request | None:
        if urllib.parse.urlparse(newurl).scheme.lower() != "https":
            raise ModelLoadError(
                f"could not download {redact_uri(req.full_url)}: redirected to "
                f"{redact_uri(newurl)}, which is not https; refusing"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download_https(uri: str, transfer: _Transfer) -> None:
    opener = urllib.request.build_opener(_NoDowngrade)
    request = urllib.request.Request(uri, headers={"User-Agent": "mlinfra-serving"})
    with opener.open(request, timeout=transfer.socket_timeout_s()) as response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None and length.isdigit() else None

        def shorten_timeout() -> None:
            # Every read waits at most what is left of the deadline.
            sock = getattr(getattr(response, "fp", None), "raw", None)
            inner = getattr(sock, "_sock", None)
            if inner is not None:
                inner.settimeout(transfer.socket_timeout_s())

        # read1: one socket read at a time, so a trickling server cannot keep one call busy
        # past the deadline (read(n) would wait for all n bytes).
        transfer.copy(response.read1, expected, response.headers.get("Content-Type"), shorten_timeout)


def main(argv: list[str] | None = None) -> int:
    """`python -m mlinfra.serving.fetch URI --out DIR [--sha256 HEX]`: bake a model into an
    image at build time, with the same download and verification as start-up."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m mlinfra.serving.fetch")
    p.add_argument("uri")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--sha256")
    p.add_argument("--max-bytes", type=int, default=DownloadLimits.max_bytes)
    p.add_argument("--timeout-s", type=float, default=DownloadLimits.deadline_s)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="mlinfra fetch: %(message)s")
    try:
        path, digest = fetch_model(args.uri, args.out, args.sha256, DownloadLimits(args.max_bytes, args.timeout_s))
    except ModelLoadError as exc:
        print(f"mlinfra fetch: {exc}", file=sys.stderr)
        return 1
    if path.parent != args.out:  # a local file: copy it where the image expects it
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, args.out / path.name)
        os.chmod(args.out / path.name, 0o644)
    print(f"{digest}  {args.out / path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
