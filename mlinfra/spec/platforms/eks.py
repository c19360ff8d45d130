"""The rules a valid service must still meet to run on an EKS stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlinfra.errors import Problem
from mlinfra.spec.capacity import instance_table
from mlinfra.spec.platforms.eks_services import service_problems
from mlinfra.spec.service import ServiceSpec
from mlinfra.spec.stack import StackSettings

NAMESPACE = "mlinfra"


def problems(
    settings: StackSettings, services: Sequence[ServiceSpec], where: Mapping[str, str], file: str
) -> list[Problem]:
    """Every reason a valid service still cannot run on this EKS stack."""
    found: list[Problem] = []
    cluster_problem = settings.eks.deploy_problem()
    if cluster_problem:
        found.append(Problem(file, f"{NAMESPACE}:eks", "{...}", cluster_problem))
    capacity = settings.gpu_capacity()
    for spec in services:
        gpu_type = spec.gpu_type
        if gpu_type is not None and gpu_type not in capacity:
            offered = ", ".join(sorted(capacity)) or "none configured"
            found.append(
                Problem(
                    where.get(spec.name, file),
                    f"ModelService({spec.name!r}).gpu",
                    gpu_type,
                    f"stack has no GPU node group for {gpu_type}; GPU types in "
                    f"{file} ({NAMESPACE}:gpuNodeGroups): {offered}",
                )
            )
        found += service_problems(settings, spec, where)
    return found + _capacity(settings, services, where, file)


def _smallest(types: tuple[str, ...]) -> dict[str, float]:
    table = instance_table()
    shapes = [table[t] for t in types if t in table]
    return {key: min(float(s.get(key, 0)) for s in shapes) for key in ("vcpu", "memory_gib", "gpus")}


def _capacity(
    settings: StackSettings, services: Sequence[ServiceSpec], where: Mapping[str, str], file: str
) -> list[Problem]:
    """Each pod must fit a node of its pool, as on ECS (shapes from the pinned instance table).

    A pod must fit on every instance type its node group may launch, so the smallest type of a
    group counts; the comparison is against instance capacity, before the kubelet's
    reservations, so it only refuses what can never schedule.
    """
    problems: list[Problem] = []
    for spec in services:
        at = where.get(spec.name, file)
        field = f"ModelService({spec.name!r})"
        if spec.gpu_type is None:
            pools = {"system nodes (mlinfra:eks.systemNodes)": settings.eks.system_nodes.instance_types}
        else:
            pools = {
                f"GPU node group {name!r}": group.instance_types
                for name, group in sorted(settings.gpu_node_groups.items())
                if group.gpu_type == spec.gpu_type
            }
            if not pools:
                continue  # reported as "no GPU node group for <type>"
        shapes = {label: _smallest(types) for label, types in pools.items()}
        if spec.gpu_type is not None:
            most = max(s["gpus"] for s in shapes.values())
            if spec.gpu_count > most:
                problems.append(
                    Problem(
                        at,
                        f"{field}.gpu_count",
                        spec.gpu_count,
                        f"the stack's {spec.gpu_type} node groups in {file} have at most "
                        f"{most:g} GPU(s) per node; allowed: 1-{most:g}, or add larger "
                        "instance types",
                    )
                )
        cpu = max(s["vcpu"] for s in shapes.values())
        memory = max(s["memory_gib"] for s in shapes.values())
        label = ", ".join(shapes)
        if spec.cpu > cpu * 1000:
            problems.append(
                Problem(
                    at,
                    f"{field}.cpu",
                    f"{spec.cpu}m",
                    f"larger than any node of its pool ({label}: {cpu:g} vCPU); "
                    f"allowed: less than {cpu:g} cores, or larger instance types in {file}",
                )
            )
        if spec.memory > memory * 1024:
            problems.append(
                Problem(
                    at,
                    f"{field}.memory",
                    f"{spec.memory}Mi",
                    f"larger than any node of its pool ({label}: {memory:g} GiB); "
                    f"allowed: less than {memory:g}Gi, or larger instance types in {file}",
                )
            )
    return problems
