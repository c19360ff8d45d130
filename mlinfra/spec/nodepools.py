"""Karpenter node pools of an EKS stack (`mlinfra:nodePools`): one for CPU services, one per GPU
type in use. Karpenter launches the nodes pending pods need and removes the ones they no longer
need, so a pool has no minimum: it is at zero nodes whenever its services are at zero replicas."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mlinfra.spec.base import StrictModel
from mlinfra.spec.capacity import GPU_FAMILIES, check_instance_types
from mlinfra.spec.service import GpuType

POOL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?$")
DEFAULT_CPU_TYPES = ("m6i.large", "m6i.xlarge", "m6i.2xlarge")
# The shape of the setting, for every message that points users at it.
EXAMPLE = (
    "mlinfra:nodePools: {cpu: {instanceTypes: [m6i.xlarge, m6i.2xlarge], limits: {cpu: 32}}, "
    "gpu-a10g: {gpuType: a10g, instanceTypes: [g5.xlarge], capacityType: on-demand, limits: {gpus: 4}}}"
)


class PoolLimits(StrictModel):
    """The most capacity Karpenter may launch into the pool, summed over its nodes (the
    NodePool's `spec.limits`). Unset: no limit on that resource."""

    cpu: Annotated[int, Field(ge=1, le=100000)] | None = None
    """vCPUs of all the pool's nodes together."""
    memory_gib: Annotated[int, Field(ge=1, le=1000000)] | None = None
    gpus: Annotated[int, Field(ge=1, le=10000)] | None = None


class NodePool(StrictModel):
    """One Karpenter NodePool and its EC2NodeClass. Without `gpu_type`: the CPU services' pool."""

    gpu_type: GpuType | None = None
    instance_types: tuple[str, ...] = ()
    """Default: m6i.large, m6i.xlarge, m6i.2xlarge (CPU); the GPU family's smallest size (GPU)."""
    capacity_type: Literal["on-demand", "spot"] = "on-demand"
    """`spot` is cheaper and interrupted with two minutes' notice (Karpenter drains the node)."""
    limits: PoolLimits | None = None
    """Default: 32 vCPUs (CPU pool); 2 GPUs (GPU pool)."""
    consolidation: Literal["when-empty", "when-empty-or-underutilized"] | None = None
    """Default: CPU pools repack underused nodes; GPU pools only remove empty ones (a model
    moved to another node reloads, which takes minutes on a GPU)."""
    disk_size_gib: Annotated[int, Field(ge=20, le=2000)] | None = None
    """Encrypted gp3 root volume. Default: 50 (CPU), 100 (GPU: the CUDA images are large)."""

    @field_validator("instance_types")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("instance_types must not repeat a type")
        return v

    @model_validator(mode="after")
    def _defaults(self) -> NodePool:
        gpu = self.gpu_type is not None
        types = self.instance_types
        if gpu:
            family, default = GPU_FAMILIES[self.gpu_type]  # type: ignore[index]
            types = types or (default,)
            wrong = [t for t in types if t.split(".")[0] != family]
            if wrong:
                raise ValueError(f"instance_types {wrong[:3]} do not carry a {self.gpu_type} GPU; use {family}.* types")
            check_instance_types(types, family=family)
        else:
            types = types or DEFAULT_CPU_TYPES
            check_instance_types(types, cpu_only=True)
        updates = {
            "instance_types": types,
            "limits": self.limits or (PoolLimits(gpus=2) if gpu else PoolLimits(cpu=32)),
            "consolidation": self.consolidation or ("when-empty" if gpu else "when-empty-or-underutilized"),
            "disk_size_gib": self.disk_size_gib or (100 if gpu else 50),
        }
        for key, value in updates.items():
            object.__setattr__(self, key, value)
        return self


def default_pools() -> dict[str, NodePool]:
    return {"cpu": NodePool()}


def check_pools(pools: dict[str, NodePool]) -> dict[str, NodePool]:
    """Pool names are Kubernetes object names; one CPU pool, one pool per GPU type."""
    bad = [str(k)[:40] for k in pools if not POOL_NAME.match(k)]
    if bad:
        raise ValueError(
            f"pool names must be lowercase letters, digits and '-' (at most 30), got {bad[:3]}; example: {EXAMPLE}"
        )
    by_type: dict[str | None, list[str]] = {}
    for name, pool in sorted(pools.items()):
        by_type.setdefault(pool.gpu_type, []).append(name)
    twice = {t or "CPU": names for t, names in by_type.items() if len(names) > 1}
    if twice:
        kind, names = sorted(twice.items())[0]
        raise ValueError(
            f"pools {names} both serve {kind} services; each service must have exactly one pool, so "
            "declare one pool without gpuType and at most one per GPU type (list more instanceTypes instead)"
        )
    return pools


def pool_for(pools: dict[str, NodePool], gpu_type: str | None) -> str | None:
    """The name of the pool that serves a service of this GPU type (None: CPU), if any."""
    return next((name for name, pool in sorted(pools.items()) if pool.gpu_type == gpu_type), None)


OLD_GPU_KEYS_MESSAGE = (
    "replaced by Karpenter node pools: GPU nodes now come and go with the pods that need them, so "
    "minSize/desiredSize/maxSize no longer exist. Move each group to mlinfra:nodePools with its "
    "gpuType and instanceTypes, capacityType (on-demand or spot) instead of capacityType "
    "ON_DEMAND/SPOT, and limits.gpus instead of maxSize (maxSize x GPUs per instance); example: "
) + EXAMPLE
