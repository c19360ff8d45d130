"""Resolve a model URI to a local file and verify its sha256 before anyone deserialises it.

boto3 is imported only inside the s3 branch so the runtime's import cost stays small for
file and https models (and so the module imports without boto3 installed).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from mlinfra.serving.errors import ModelLoadError

_CHUNK = 1 << 20


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
        raise ModelLoadError(f"model URI {uri!r} does not name a file")
    return name


def fetch_model(uri: str, cache_dir: Path, expected_sha256: str | None) -> tuple[Path, str]:
    """Return (local path, sha256 hex). Raises ModelLoadError on any failure or mismatch."""
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("", "file"):
        path = Path(urllib.parse.unquote(parsed.path) if scheme == "file" else uri)
        if not path.is_file():
            raise ModelLoadError(f"model file {path} does not exist")
    elif scheme in ("s3", "https"):
        path = _download(uri, scheme, parsed, cache_dir)
    else:
        raise ModelLoadError(
            f"model URI scheme {scheme!r} is not supported "
            "(allowed: s3://, https://, file://, a path)"
        )
    actual = sha256_file(path)
    if expected_sha256 is not None and not hmac.compare_digest(actual, expected_sha256.lower()):
        raise ModelLoadError(
            f"sha256 mismatch for {uri}: expected {expected_sha256.lower()}, got {actual}; "
            "refusing to load"
        )
    return path, actual


def _download(uri: str, scheme: str, parsed: urllib.parse.ParseResult, cache_dir: Path) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / model_filename(uri)
    # Write to a temp file in the same directory and rename, so a crash never leaves a
    # truncated model that a later start would treat as complete.
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out:
            if scheme == "s3":
                _download_s3(parsed, out)
            else:
                _download_https(uri, out)
        os.replace(tmp_name, target)
    except ModelLoadError:
        raise
    except Exception as exc:  # any transport failure is a load failure with the URI in it
        raise ModelLoadError(f"could not download {uri}: {exc}") from exc
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def _download_s3(parsed: urllib.parse.ParseResult, out: BinaryIO) -> None:
    import boto3  # only here: the runtime must not pay for boto3 unless it reads from S3

    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise ModelLoadError("s3 URI must look like s3://bucket/key")
    # boto3 honours AWS_ENDPOINT_URL itself (>= 1.28); passing it explicitly keeps the
    # behaviour obvious and works for the s3-specific variable too.
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    client = boto3.client("s3", endpoint_url=endpoint or None)
    client.download_fileobj(bucket, key, out)


def _download_https(uri: str, out: BinaryIO) -> None:
    request = urllib.request.Request(
        uri, headers={"User-Agent": "mlinfra-serving"}
    )  # scheme checked above
    with urllib.request.urlopen(request, timeout=60) as response:
        shutil.copyfileobj(response, out, _CHUNK)


def main(argv: list[str] | None = None) -> int:
    """`python -m mlinfra.serving.fetch URI --out DIR [--sha256 HEX]`: bake a model into an
    image at build time, with the same download and verification as start-up."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m mlinfra.serving.fetch")
    p.add_argument("uri")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--sha256")
    args = p.parse_args(argv)
    try:
        path, digest = fetch_model(args.uri, args.out, args.sha256)
    except ModelLoadError as exc:
        print(f"mlinfra fetch: {exc}", file=sys.stderr)
        return 1
    if path.parent != args.out:  # a local file: copy it where the image expects it
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, args.out / path.name)
    print(f"{digest}  {args.out / path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
