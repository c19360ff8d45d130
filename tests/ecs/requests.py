"""Every AWS API request an ECS plan implies, built from recorded inputs (shared by the tests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlinfra.engine import ecs_requests as req

from .conftest import Plan


@dataclass
class Requests:
    """Requests by (service, operation, logical name), in the order a deployment sends them."""

    items: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, service: str, operation: str, name: str, params: dict[str, Any]) -> None:
        self.items.append((service, operation, name, params))

    def of(self, operation: str) -> list[tuple[str, dict[str, Any]]]:
        return [(n, p) for _, op, n, p in self.items if op == operation]


def plan_requests(plan: Plan, refs: Mapping[str, Mapping[str, str]] | None = None) -> Requests:
    """`refs[logical name]` replaces deploy-time identifiers in that resource's request."""
    refs = refs or {}
    out = Requests()
    for res in plan.of_type("aws:ecs/cluster:Cluster"):
        out.add("ecs", "CreateCluster", res.name, req.create_cluster(res.inputs))
    for res in plan.of_type("aws:ecs/capacityProvider:CapacityProvider"):
        out.add("ecs", "CreateCapacityProvider", res.name, req.create_capacity_provider(res.inputs, refs.get(res.name)))
    for res in plan.of_type("aws:lb/loadBalancer:LoadBalancer"):
        out.add("elbv2", "CreateLoadBalancer", res.name,
                req.create_load_balancer(res.inputs, res.name, refs.get(res.name)))
        out.add("elbv2", "ModifyLoadBalancerAttributes", res.name,
                {"LoadBalancerArn": refs.get(res.name, {}).get("LoadBalancerArn", "arn:aws:elasticloadbalancing:"
                                                              "us-east-1:123456789012:loadbalancer/app/x/1"),
                 "Attributes": req.load_balancer_attributes(res.inputs)})
    for res in plan.of_type("aws:lb/targetGroup:TargetGroup"):
        name = res.name[:32]
        out.add("elbv2", "CreateTargetGroup", res.name, req.create_target_group(res.inputs, name, refs.get(res.name)))
        out.add("elbv2", "ModifyTargetGroupAttributes", res.name,
                {"TargetGroupArn": refs.get(res.name, {}).get("TargetGroupArn", "arn:aws:elasticloadbalancing:"
                                                             "us-east-1:123456789012:targetgroup/x/1"),
                 "Attributes": req.target_group_attributes(res.inputs)})
    for res in plan.of_type("aws:lb/listener:Listener"):
        out.add("elbv2", "CreateListener", res.name, req.create_listener(res.inputs, refs.get(res.name)))
    for res in plan.of_type("aws:lb/listenerRule:ListenerRule"):
        out.add("elbv2", "CreateRule", res.name, req.create_rule(res.inputs, refs.get(res.name)))
    for res in plan.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        out.add("ecs", "RegisterTaskDefinition", res.name, req.register_task_definition(res.inputs, refs.get(res.name)))
    for res in plan.of_type("aws:ecs/service:Service"):
        out.add("ecs", "CreateService", res.name, req.create_service(res.inputs, refs.get(res.name)))
    for res in plan.of_type("aws:appautoscaling/target:Target"):
        out.add("application-autoscaling", "RegisterScalableTarget", res.name, req.register_scalable_target(res.inputs))
    for res in plan.of_type("aws:appautoscaling/policy:Policy"):
        out.add("application-autoscaling", "PutScalingPolicy", res.name, req.put_scaling_policy(res.inputs, res.name))
    return out
