"""Which autoscaling settings each platform honours; the rest is refused, never dropped."""

from __future__ import annotations

from collections.abc import Mapping

from mlinfra.errors import Problem
from mlinfra.spec.service import ServiceSpec
from mlinfra.spec.stack import StackSettings

# Settings only the EKS scalers (KEDA) read; ECS target tracking has no such signal.
EKS_ONLY = ("target_inflight_requests", "target_gpu_percent")


def eks_problems(settings: StackSettings, spec: ServiceSpec, where: Mapping[str, str]) -> list[Problem]:
    """Scale to zero only where an idle, cold service hurts nobody: not public, not prod.

    At zero replicas the runtime exports no metrics, so requests alone never wake the service
    (the load balancer answers 503); see the README's "Pod scaling"."""
    scaling = spec.autoscaling
    if scaling is None or scaling.min_replicas > 0:
        return []
    why = [w for w, bad in (("public", spec.public), (f"in prod (tier {settings.tier})", settings.production)) if bad]
    if not why:
        return []
    return [
        Problem(
            where.get(spec.name, "services/"),
            f"ModelService({spec.name!r}).autoscaling.min_replicas",
            0,
            f"scale to zero is refused for a service that is {' and '.join(why)}: its callers would "
            "get 503 until someone scales it up; allowed: an integer from 1 to 1000",
        )
    ]


def ecs_problems(spec: ServiceSpec, where: Mapping[str, str]) -> list[Problem]:
    scaling = spec.autoscaling
    if scaling is None:
        return []
    at, field = where.get(spec.name, "services/"), f"ModelService({spec.name!r}).autoscaling"
    found = [
        Problem(
            at,
            f"{field}.{name}",
            getattr(scaling, name),
            "not supported on ECS: its target tracking scales on CPU and ALB request count only; "
            "allowed: remove it (target_cpu_percent, target_requests_per_second), or use mlinfra:platform eks",
        )
        for name in EKS_ONLY
        if getattr(scaling, name) is not None
    ]
    if scaling.min_replicas == 0:
        found.append(
            Problem(
                at,
                f"{field}.min_replicas",
                0,
                "ECS target tracking cannot scale out from zero tasks (no task, no metric); "
                "allowed: an integer from 1 to 1000, or use mlinfra:platform eks",
            )
        )
    return found
