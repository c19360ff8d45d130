"""Download a remote model to bake, with the deployer's credentials, before the image build.

The build itself then needs no credentials (pulumi-docker v4 cannot pass build secrets):
the verified file is linked into the build context and COPY'd. Files are cached by their
sha256, so a second `pulumi up` (or `preview`) of the same model downloads nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mlinfra.serving.fetch import fetch_model, model_filename


def staged_path(cache_root: Path, model_uri: str, sha256: str) -> Path:
    """Where the verified copy of `model_uri` with digest `sha256` lives in the cache."""
    return cache_root / sha256 / model_filename(model_uri)


def stage_remote_model(model_uri: str, sha256: str, cache_root: Path) -> Path:
    """The local, verified copy of a remote model: cached, else downloaded now.

    Only a file whose digest matched is ever moved into the cache (the download goes to a
    temporary directory first), so a cached file is trusted without re-reading it. Raises
    `mlinfra.serving.errors.ModelLoadError` on a failed download or a digest mismatch.
    """
    target = staged_path(cache_root, model_uri, sha256)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        path, _ = fetch_model(model_uri, Path(tmp), sha256)
        os.replace(path, target)
    return target
