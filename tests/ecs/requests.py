"""Every AWS API request an ECS plan implies, built from recorded inputs (shared by the tests)
by the one mapping mlinfra has, `tests/support/aws_requests.py` (also used by the gate and by
`mlinfra render`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.aws_requests import api_calls

from .conftest import Plan

# The order a deployment sends them in (a request may refer to an earlier one's result).
ORDER = (
    "aws:ecs/cluster:Cluster",
    "aws:ecs/capacityProvider:CapacityProvider",
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders",
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:lb/targetGroup:TargetGroup",
    "aws:lb/listener:Listener",
    "aws:lb/listenerRule:ListenerRule",
    "aws:ecs/taskDefinition:TaskDefinition",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:ecs/service:Service",
    "aws:appautoscaling/target:Target",
    "aws:appautoscaling/policy:Policy",
)


@dataclass
class Requests:
    """Requests by (service, operation, logical name), in the order a deployment sends them."""

    items: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, service: str, operation: str, name: str, params: dict[str, Any]) -> None:
        self.items.append((service, operation, name, params))

    def of(self, operation: str) -> list[tuple[str, dict[str, Any]]]:
        return [(n, p) for _, op, n, p in self.items if op == operation]


def plan_requests(plan: Plan, refs: Mapping[str, Mapping[str, Any]] | None = None) -> Requests:
    """`refs[logical name]` replaces deploy-time identifiers (by request field) in that resource's requests."""
    refs = refs or {}
    out = Requests()
    for type_token in ORDER:
        for res in plan.of_type(type_token):
            for call in api_calls(type_token, res.inputs, res.name, refs.get(res.name)) or []:
                out.add(call.service, call.operation, res.name, call.params)
    return out
