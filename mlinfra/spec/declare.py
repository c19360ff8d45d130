"""`ModelService(...)`: the one thing an ML team writes. A declaration, validated later.

Declarations are recorded rather than validated on the spot so that the loader can apply the
stack's overrides first and then report every problem of every service at once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from typing_extensions import Unpack

from mlinfra.errors import ComponentError

OUTSIDE_COLLECTION = (
    "ModelService({name!r}) was called outside mlinfra's program, where nothing would deploy it. "
    "ModelService is collected from services/*.py by `mlinfra plan` / `pulumi up` with mlinfra's "
    "__main__.py. In your own Pulumi program, validate the fields with "
    "mlinfra.ServiceSpec(name=..., model_uri=..., ...) and add the service with the components in "
    "mlinfra.aws (KubernetesModelService on an existing cluster, or EcsModelService)."
)


class ServiceFields(TypedDict, total=False):
    """Optional `ModelService` fields; see `ServiceSpec` for each default."""

    framework: Literal["sklearn", "xgboost", "lightgbm", "onnx", "torchscript"]
    model_sha256: str
    gpu: bool | Literal["a10g", "l4", "t4", "l40s"]
    gpu_count: int
    cpu: float | str
    memory: int | str
    replicas: int
    autoscaling: dict[str, int]
    secrets: list[str]
    env: dict[str, str]
    port: int
    expected_load_seconds: int
    trusted_pickle: bool
    bake_model: bool
    public: bool
    auth: Literal["none", "api_key"]
    allowed_cidrs: list[str]
    max_batch_size: int
    max_batch_wait_ms: float
    request_timeout_seconds: float
    slo: dict[str, float]
    rollout: dict[str, object]


@dataclass
class ModelService:
    """Declare a model to serve: `ModelService("fraud", model_uri="s3://…", gpu=True)`.

    Only meaningful in a `services/*.py` file that mlinfra's program collects. Called anywhere
    else (a user's own Pulumi program, a plain script) it raises `ComponentError` saying what to
    use instead, rather than silently deploying nothing.
    """

    name: str
    model_uri: str
    fields: dict[str, Any] = field(default_factory=dict)
    file: str = "<unknown>"
    line: int = 0

    def __init__(self, name: str, model_uri: str, **fields: Unpack[ServiceFields]) -> None:
        self.name = name
        self.model_uri = model_uri
        self.fields = dict(fields)
        caller = sys._getframe(1)  # cheap, unlike inspect.stack(), which reads source files
        self.file, self.line = caller.f_code.co_filename, caller.f_lineno
        collector = _COLLECTOR.get()
        if collector is None:
            raise ComponentError(OUTSIDE_COLLECTION.format(name=name))
        collector.append(self)

    def raw(self) -> dict[str, Any]:
        return {"name": self.name, "model_uri": self.model_uri, **self.fields}


_COLLECTOR: ContextVar[list[ModelService] | None] = ContextVar("mlinfra_collector", default=None)


@contextmanager
def collecting() -> Iterator[list[ModelService]]:
    """Record every `ModelService` constructed inside the block."""
    found: list[ModelService] = []
    token = _COLLECTOR.set(found)
    try:
        yield found
    finally:
        _COLLECTOR.reset(token)
