"""Rules only prod stacks must meet (MLI-PROD-*)."""

from __future__ import annotations

from mlinfra.policy.registry import Graph, Resource, rule
from mlinfra.policy.wire import (
    DEPLOYMENT,
    ECS_SERVICE,
    HPA,
    INGRESS,
    LOAD_BALANCERS,
    SCALED_OBJECT,
    SCALING_TARGET,
    alb_attributes,
    inputs,
    number,
    scaler_for,
    scaler_min_replicas,
)


@rule(
    "MLI-PROD-001",
    "high",
    "production runs at least 2 replicas",
    HPA,
    SCALED_OBJECT,
    DEPLOYMENT,
    ECS_SERVICE,
    SCALING_TARGET,
    prod_only=True,
)
def _ha(res: Resource, g: Graph) -> list[str]:
    i = inputs(res)
    if res["type"] in (HPA, SCALED_OBJECT):
        low = scaler_min_replicas(res)
        key = "minReplicas" if res["type"] == HPA else "minReplicaCount"
        return [] if low >= 2 else [f"{res['type'].rsplit(':', 1)[-1]} {key} {low:g} < 2 in prod"]
    if res["type"] == DEPLOYMENT:
        if scaler_for(res, g) is not None:
            return []
        n = g.fixed_replicas(res)
        return [] if n >= 2 else [f"replicas {n:g} < 2 in prod"]
    if res["type"] == SCALING_TARGET:
        if "ecs:service" not in str(i.get("scalableDimension", "")):
            return []
        low = number(i.get("minCapacity")) or 0
        return [] if low >= 2 else [f"minCapacity {low:g} < 2 in prod"]
    n = number(i.get("desiredCount", 1)) or 0
    return [] if n >= 2 or g.dependents(res, SCALING_TARGET) else [f"desiredCount {n:g} < 2 in prod"]


@rule(
    "MLI-PROD-002",
    "high",
    "production load balancers have deletion protection",
    INGRESS,
    *LOAD_BALANCERS,
    prod_only=True,
)
def _deletion(res: Resource, g: Graph) -> list[str]:
    if res["type"] == INGRESS:
        ok = alb_attributes(res).get("deletion_protection.enabled") == "true"
    else:
        ok = inputs(res).get("enableDeletionProtection") is True
    return [] if ok else ["deletion protection is off in prod"]
