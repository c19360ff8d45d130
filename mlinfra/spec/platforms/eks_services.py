"""Service settings an EKS stack cannot honour (yet): refused, never silently dropped."""

from __future__ import annotations

from collections.abc import Mapping

from mlinfra.errors import Problem
from mlinfra.spec.platforms import scaling
from mlinfra.spec.service import ServiceSpec
from mlinfra.spec.stack import StackSettings

# An ALB listener rule takes at most 5 condition values, 3 per condition (the load balancer
# controller's annotations guide, `conditions`); host and path take one each.
MAX_SOURCE_CIDRS = 3


def service_problems(settings: StackSettings, spec: ServiceSpec, where: Mapping[str, str]) -> list[Problem]:
    at, field = where.get(spec.name, "services/"), f"ModelService({spec.name!r})"
    found = scaling.eks_problems(settings, spec, where)
    if len(spec.allowed_cidrs) > MAX_SOURCE_CIDRS:
        found.append(
            Problem(
                at,
                f"{field}.allowed_cidrs",
                list(spec.allowed_cidrs),
                f"at most {MAX_SOURCE_CIDRS} CIDRs on EKS (an ALB rule condition takes 3 values)",
            )
        )
    return found
