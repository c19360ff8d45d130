"""ECS services and task definitions (MLI-ECS-*)."""

from __future__ import annotations

from mlinfra.policy.registry import Graph, Resource, rule
from mlinfra.policy.wire import (
    ECS_CLUSTER,
    ECS_SERVICE,
    ECS_TASK,
    ecs_containers,
    inputs,
    number,
)


@rule("MLI-ECS-001", "high", "deployments roll back through the circuit breaker", ECS_SERVICE)
def _breaker(res: Resource, g: Graph) -> list[str]:
    cb = inputs(res).get("deploymentCircuitBreaker") or {}
    return (
        []
        if cb.get("enable") is True and cb.get("rollback") is True
        else ["deploymentCircuitBreaker must enable rollback"]
    )


@rule("MLI-ECS-002", "medium", "health-check grace period covers model load time", ECS_SERVICE)
def _grace(res: Resource, g: Graph) -> list[str]:
    if not inputs(res).get("loadBalancers"):
        return []
    return (
        []
        if (number(inputs(res).get("healthCheckGracePeriodSeconds")) or 0) >= 30
        else ["healthCheckGracePeriodSeconds must cover model download and warm-up (>= 30 s)"]
    )


@rule("MLI-ECS-003", "high", "containers run non-root on a read-only root filesystem", ECS_TASK)
def _ecs_container(res: Resource, g: Graph) -> list[str]:
    out = []
    for c in ecs_containers(res):
        if c.get("readonlyRootFilesystem") is not True:
            out.append(f"container {c.get('name')} must set readonlyRootFilesystem")
        user = str(c.get("user", ""))
        if not user or user.split(":")[0] in ("0", "root"):
            out.append(f"container {c.get('name')} must run as a numeric non-root user")
    return out


@rule("MLI-ECS-004", "high", "task role is separate from the execution role", ECS_TASK)
def _roles(res: Resource, g: Graph) -> list[str]:
    task, execution = inputs(res).get("taskRoleArn"), inputs(res).get("executionRoleArn")
    if not task or not execution:
        return ["both taskRoleArn and executionRoleArn must be set"]
    return ["the task role must not be the execution role"] if task == execution else []


@rule("MLI-ECS-005", "medium", "containers log to CloudWatch (awslogs)", ECS_TASK)
def _awslogs(res: Resource, g: Graph) -> list[str]:
    return [
        f"container {c.get('name')} has no awslogs logConfiguration"
        for c in ecs_containers(res)
        if (c.get("logConfiguration") or {}).get("logDriver") != "awslogs"
    ]


@rule("MLI-ECS-006", "low", "Container Insights is on", ECS_CLUSTER)
def _insights(res: Resource, g: Graph) -> list[str]:
    settings = {s.get("name"): s.get("value") for s in inputs(res).get("settings") or []}
    return [] if settings.get("containerInsights") in ("enabled", "enhanced") else ["containerInsights is not enabled"]
