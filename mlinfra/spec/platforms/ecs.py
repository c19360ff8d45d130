"""The rules a valid service must still meet to run on an ECS stack.

Everything ECS rejects at deploy time (Fargate sizes, GPU placement, stop timeouts, ports
taken by the collector sidecar) is checked here, before any resource is declared, so
`mlinfra plan` reports it as input problems instead of `pulumi up` failing half-way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlinfra.errors import MISSING, Problem
from mlinfra.spec.ecs import (
    DRAIN_MARGIN_SECONDS,
    ECS_STEPS_ALLOWED,
    MAX_STOP_TIMEOUT_SECONDS,
    SIDECAR_CPU_UNITS,
    SIDECAR_PORTS,
    cpu_units,
    fargate_allowed,
    gpu_ami_command,
    gpus_per_instance,
    listener_rule_priority,
    native_deployment,
    stop_timeout_seconds,
)
from mlinfra.spec.platforms import scaling
from mlinfra.spec.service import ServiceSpec
from mlinfra.spec.stack import StackSettings


def problems(
    settings: StackSettings, services: Sequence[ServiceSpec], where: Mapping[str, str], file: str
) -> list[Problem]:
    """Every reason a valid service still cannot run on this ECS stack."""
    found: list[Problem] = []
    ecs = settings.ecs
    if settings.gpu_node_groups:
        found.append(
            Problem(
                file,
                "mlinfra:gpuNodeGroups",
                sorted(settings.gpu_node_groups),
                "EKS node groups do nothing on an ECS stack; declare GPU capacity "
                "under mlinfra:ecs.gpuCapacity instead",
            )
        )
    if ecs.gpu_capacity and ecs.gpu_ami_id is None:
        found.append(
            Problem(
                file,
                "mlinfra:ecs.gpuAmiId",
                MISSING,
                "GPU capacity needs its AMI pinned, so a new AMI release never replaces "
                "hosts by itself; the current recommended id: "
                f"`{gpu_ami_command(settings.region)}`",
            )
        )
    if settings.hosted_zone_id and ecs.alb.routing == "path" and len({s.public for s in services}) == 2:
        found.append(
            Problem(
                file,
                "mlinfra:hostedZoneId",
                settings.hosted_zone_id,
                "with path routing every service shares the domain's one name, which "
                "cannot point at both the public and the internal load balancer; use "
                "alb.routing: host, or leave DNS to yourself",
            )
        )
    providers = ecs.gpu_providers()
    priorities: dict[int, str] = {}
    for spec in services:
        at = where.get(spec.name, file)
        field = f"ModelService({spec.name!r})"
        found += scaling.ecs_problems(spec, where)
        units = cpu_units(spec.cpu)
        if spec.gpu_type is None:
            allowed = fargate_allowed(units, spec.memory)
            if allowed is not None:
                found.append(Problem(at, f"{field}.cpu/memory", f"cpu={spec.cpu}m memory={spec.memory}Mi", allowed))
        else:
            if spec.gpu_type not in providers:
                offered = ", ".join(sorted(providers)) or "none configured"
                found.append(
                    Problem(
                        at,
                        f"{field}.gpu",
                        spec.gpu_type,
                        f"Fargate cannot run GPU tasks and the stack has no ECS GPU capacity for "
                        f"{spec.gpu_type}; GPU types in {file} (mlinfra:ecs.gpuCapacity): {offered}",
                    )
                )
            else:
                capacity = ecs.gpu_capacity[providers[spec.gpu_type][0]]
                fits = min(gpus_per_instance(t) for t in capacity.instance_types)
                if spec.gpu_count > fits:
                    found.append(
                        Problem(
                            at,
                            f"{field}.gpu_count",
                            spec.gpu_count,
                            f"the stack's {spec.gpu_type} capacity ({', '.join(capacity.instance_types)}) has "
                            f"{fits} GPU(s) per instance; allowed: 1-{fits}, or add larger instance types",
                        )
                    )
            if units is None:
                found.append(
                    Problem(
                        at,
                        f"{field}.cpu",
                        f"{spec.cpu}m",
                        "ECS sizes tasks in CPU units (1024 per vCPU); use a multiple of 125m, e.g. 3 or 3500m",
                    )
                )
        if units is not None and units <= SIDECAR_CPU_UNITS:
            found.append(
                Problem(
                    at,
                    f"{field}.cpu",
                    f"{spec.cpu}m",
                    f"the task also runs the metrics collector ({SIDECAR_CPU_UNITS} CPU units); allowed: 250m or more",
                )
            )
        if spec.port in SIDECAR_PORTS:
            found.append(
                Problem(
                    at,
                    f"{field}.port",
                    spec.port,
                    "taken by the ADOT collector sidecar in the same task network namespace, so the ALB "
                    f"could not reach the model server; allowed: 1024-65535 except "
                    f"{', '.join(map(str, SIDECAR_PORTS))}",
                )
            )
        if native_deployment(spec.delivery) is None:
            found.append(Problem(at, f"{field}.rollout.steps", list(spec.delivery.steps), ECS_STEPS_ALLOWED))
        priority = listener_rule_priority(spec.name)
        if priority in priorities:
            found.append(
                Problem(
                    at,
                    f"{field}.name",
                    spec.name,
                    f"its ALB listener-rule priority ({priority}) collides with service "
                    f"{priorities[priority]!r}; choose another name",
                )
            )
        priorities[priority] = spec.name
        if stop_timeout_seconds(spec) > MAX_STOP_TIMEOUT_SECONDS:
            limit = MAX_STOP_TIMEOUT_SECONDS - DRAIN_MARGIN_SECONDS
            found.append(
                Problem(
                    at,
                    f"{field}.request_timeout_seconds",
                    spec.request_timeout_seconds,
                    f"ECS waits at most {MAX_STOP_TIMEOUT_SECONDS} s (stopTimeout) for in-flight requests "
                    f"to drain; allowed on ECS: at most {limit}",
                )
            )
    return found
