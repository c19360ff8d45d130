"""Sizes of node pools and GPU pools, shared by EKS node groups and ECS capacity providers."""

from __future__ import annotations

import json
from importlib import resources as importlib_resources
from typing import Annotated

from pydantic import Field, model_validator

from mlinfra.spec.base import StrictModel
from mlinfra.spec.service import GpuType

# GPU type -> the instance family that carries it, and the default instance for one GPU.
GPU_FAMILIES: dict[str, tuple[str, str]] = {
    "a10g": ("g5", "g5.xlarge"),
    "l4": ("g6", "g6.xlarge"),
    "t4": ("g4dn", "g4dn.xlarge"),
    "l40s": ("g6e", "g6e.xlarge"),
}


def instance_table() -> dict[str, dict[str, float]]:
    """EC2 instance types mlinfra knows (vCPUs, memory, GPUs): the pinned price table,
    all regions together (an instance type's shape is the same everywhere)."""
    global _TABLE
    if _TABLE is None:
        raw = json.loads(importlib_resources.files("mlinfra.engine").joinpath("prices/aws.json").read_text())
        _TABLE = {}
        for region in raw["regions"].values():
            if isinstance(region, dict):  # other entries name the region whose prices they share
                _TABLE.update(region["ec2"])
    return _TABLE


_TABLE: dict[str, dict[str, float]] | None = None


def check_instance_types(
    types: tuple[str, ...], *, cpu_only: bool = False, family: str | None = None
) -> tuple[str, ...]:
    """`types` if each is a known instance type (of `family`); else ValueError naming the allowed."""
    table = instance_table()
    allowed = sorted(
        t
        for t, shape in table.items()
        if (family is None or t.split(".")[0] == family) and not (cpu_only and shape.get("gpus"))
    )
    wrong = [t for t in types if t not in allowed]
    if wrong:
        raise ValueError(
            f"instance types {[str(t)[:30] for t in wrong][:3]} are not in mlinfra's pinned "
            f"instance table (mlinfra/engine/prices/aws.json); allowed: {', '.join(allowed)}"
        )
    return types


class NodeGroupSize(StrictModel):
    min_size: Annotated[int, Field(ge=0, le=450)] = 2
    max_size: Annotated[int, Field(ge=1, le=450)] = 6
    desired_size: Annotated[int, Field(ge=0, le=450)] = 2

    @model_validator(mode="after")
    def _bounds(self) -> NodeGroupSize:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"need min_size <= desired_size <= max_size, got {self.min_size}, {self.desired_size}, {self.max_size}"
            )
        return self


class GpuPool(NodeGroupSize):
    """NVIDIA GPU instances of one GPU type. Default: 0-4 of the family's smallest size."""

    gpu_type: GpuType = "a10g"
    instance_types: tuple[str, ...] = ()
    """Default: the smallest instance of the GPU's family (g5.xlarge for a10g)."""
    min_size: Annotated[int, Field(ge=0, le=450)] = 0
    max_size: Annotated[int, Field(ge=1, le=450)] = 4
    disk_size_gib: Annotated[int, Field(ge=50, le=2000)] = 100

    @model_validator(mode="after")
    def _family(self) -> GpuPool:
        family, default = GPU_FAMILIES[self.gpu_type]
        if not self.instance_types:
            object.__setattr__(self, "instance_types", (default,))
        wrong = [t for t in self.instance_types if t.split(".")[0] != family]
        if wrong:
            raise ValueError(
                f"instance_types {[str(t)[:30] for t in wrong][:3]} do not carry a {self.gpu_type} GPU; "
                f"use {family}.* types"
            )
        check_instance_types(self.instance_types, family=family)
        return self
