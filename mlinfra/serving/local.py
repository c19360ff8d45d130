"""`mlinfra serve TARGET`: run the same runtime as the image, on this machine."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlinfra.serving.settings import describe_errors

# Given a services/<file>.py, returns ServingSettings fields for the service to serve
# (model_uri, model_name, framework, model_sha256, trusted_pickle, ...).
ServiceLoader = Callable[[Path], Mapping[str, Any]]


def serve_local(
    target: str,
    port: int = 8080,
    host: str = "127.0.0.1",
    *,
    service_loader: ServiceLoader | None = None,
) -> int:
    """Serve a model URI (or a services file) until SIGTERM/SIGINT; returns the exit code
    (0 after a clean drain, 1 if the model failed to load, 2 for bad input)."""
    from mlinfra.serving.run import run

    overrides: dict[str, Any]
    if target.endswith(".py"):
        # TODO(lead): wire the SDK's declaration loader here (mlinfra.spec): it should load
        # the ModelService(s) declared in the file and return their serving fields, e.g.
        # {"model_uri": ..., "model_name": ..., "framework": ..., "model_sha256": ...,
        #  "trusted_pickle": ...}; `mlinfra serve` passes it as `service_loader`.
        if service_loader is None:
            print(
                f"mlinfra serve: {target}: serving a services file needs the SDK's service "
                "loader, which is not wired in yet; pass the service's model URI instead "
                "(s3://..., https://..., file://... or a path)",
                file=sys.stderr,
            )
            return 2
        overrides = dict(service_loader(Path(target)))
    else:
        overrides = {"model_uri": target}
    overrides.update(port=port, host=host)
    try:
        return run(overrides)
    except ValidationError as exc:
        print(f"mlinfra serve: invalid settings: {describe_errors(exc)}", file=sys.stderr)
        return 2
