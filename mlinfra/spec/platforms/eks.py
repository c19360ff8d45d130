"""The rules a valid service must still meet to run on an EKS stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlinfra.errors import Problem
from mlinfra.spec.platforms.eks_services import service_problems
from mlinfra.spec.schedulability import prove
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
    for spec in services:
        found += service_problems(settings, spec, where)
    return found + prove(settings.node_pools, services, where, file)[1]
