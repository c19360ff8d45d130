"""Pricers of ECS resources: Fargate services (task size x running count)."""

from __future__ import annotations

from typing import Any

from mlinfra.engine.graph import ResourceGraph as Graph
from mlinfra.engine.pricing import Line, PriceTable, hourly, pricer


@pricer("aws:ecs/service:Service")
def _ecs_service(res: dict[str, Any], p: PriceTable, g: Graph) -> Line | str | None:
    inputs = res["inputs"]
    strategy = [s.get("capacityProvider") for s in inputs.get("capacityProviderStrategies") or []]
    fargate = inputs.get("launchType") == "FARGATE" or any(str(s).startswith("FARGATE") for s in strategy)
    if not fargate:
        return None  # EC2-backed: the auto scaling group carries the cost
    tasks = g.deps(res, "aws:ecs/taskDefinition:TaskDefinition")
    if not tasks:
        return "Fargate service whose task definition is not in the plan"
    try:
        vcpu = float(tasks[0]["inputs"]["cpu"]) / 1024
        gb = float(tasks[0]["inputs"]["memory"]) / 1024
    except (KeyError, TypeError, ValueError):
        return "task definition without numeric cpu/memory"
    low = high = int(inputs.get("desiredCount", 1))
    for target in g.dependents(res, "aws:appautoscaling/target:Target"):
        low, high = int(target["inputs"].get("minCapacity", low)), int(target["inputs"].get("maxCapacity", high))
    per = hourly(vcpu * p.rates["fargate_vcpu_hourly"] + gb * p.rates["fargate_gb_hourly"], p)
    return Line(per * low, per * high, f"{low}\u2013{high} Fargate tasks \u00d7 {vcpu:g} vCPU / {gb:g} GB")
