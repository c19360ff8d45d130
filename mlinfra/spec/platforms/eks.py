"""The rules a valid service must still meet to run on an EKS stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlinfra.errors import Problem
from mlinfra.spec.platforms.eks_services import service_problems
from mlinfra.spec.service import ServiceSpec
from mlinfra.spec.stack import StackSettings

NAMESPACE = "mlinfra"


def problems(settings: StackSettings, services: Sequence[ServiceSpec], where: Mapping[str, str],
             file: str) -> list[Problem]:
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
            found.append(Problem(where.get(spec.name, file), f"ModelService({spec.name!r}).gpu", gpu_type,
                                 f"stack has no GPU node group for {gpu_type}; GPU types in "
                                 f"{file} ({NAMESPACE}:gpuNodeGroups): {offered}"))
        found += service_problems(settings, spec, where)
    return found
