"""Cost estimate: shipped price table, per-resource arithmetic, ranges, and the plan's cost section."""

from __future__ import annotations

from typing import Any

import pytest

from mlinfra.engine.cost import estimate, load_prices

HOURS = 730


def _doc(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resources": list(resources)}


def _r(
    type_: str, name: str, inputs: dict[str, Any], deps: list[str] | None = None, service: str = "(platform)"
) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:s::p::{type_}::{name}",
        "type": type_,
        "name": name,
        "inputs": inputs,
        "dependencies": deps or [],
        "service": service,
    }


def test_price_table_states_its_date_and_source() -> None:
    prices = load_prices("us-east-1")
    assert prices is not None
    assert prices.taken == "2026-06-17"
    assert "AWS" in prices.source
    assert prices.ec2("g5.xlarge") == {"hourly": 1.006, "vcpu": 4, "memory_gib": 16, "gpus": 1}
    assert load_prices("us-west-2") is not None
    assert load_prices("ap-southeast-7") is None


def test_node_group_is_priced_desired_to_max_with_its_disk() -> None:
    lt = _r("aws:ec2/launchTemplate:LaunchTemplate", "gpu-lt", {"blockDeviceMappings": [{"ebs": {"volumeSize": 100}}]})
    ng = _r(
        "aws:eks/nodeGroup:NodeGroup",
        "gpu",
        {"instanceTypes": ["g5.xlarge"], "scalingConfig": {"minSize": 0, "desiredSize": 1, "maxSize": 4}},
        deps=[lt["urn"]],
    )
    cost = estimate(_doc(lt, ng), load_prices("us-east-1"))
    per_node = 1.006 * HOURS + 100 * 0.08
    assert cost["total"] == {"min": round(per_node, 2), "max": round(4 * per_node, 2)}


def test_fargate_service_uses_task_size_and_autoscaling_range() -> None:
    task = _r("aws:ecs/taskDefinition:TaskDefinition", "t", {"cpu": "1024", "memory": "2048"}, service="svc")
    svc = _r("aws:ecs/service:Service", "s", {"launchType": "FARGATE", "desiredCount": 2}, [task["urn"]], "svc")
    target = _r("aws:appautoscaling/target:Target", "a", {"minCapacity": 2, "maxCapacity": 10}, [svc["urn"]], "svc")
    cost = estimate(_doc(task, svc, target), load_prices("us-east-1"))
    per_task = (0.04048 + 2 * 0.004445) * HOURS
    assert cost["services"]["svc"] == {"min": round(2 * per_task, 2), "max": round(10 * per_task, 2)}


@pytest.mark.parametrize(
    ("type_", "inputs", "monthly"),
    [
        ("aws:eks/cluster:Cluster", {}, 0.10 * HOURS),
        ("aws:ec2/natGateway:NatGateway", {}, 0.045 * HOURS),
        ("aws:lb/loadBalancer:LoadBalancer", {"loadBalancerType": "application"}, (0.0225 + 0.008) * HOURS),
        ("aws:kms/key:Key", {}, 1.0),
        ("aws:secretsmanager/secret:Secret", {}, 0.40),
        ("aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 30}, 5 * (0.50 + 0.03)),
        ("aws:amp/workspace:Workspace", {}, 86.4 * 0.90 + 2 * 0.03),
        ("aws:iam/role:Role", {}, 0.0),
    ],
)
def test_fixed_price_resources(type_: str, inputs: dict[str, Any], monthly: float) -> None:
    cost = estimate(_doc(_r(type_, "x", inputs)), load_prices("us-east-1"))
    assert cost["total"]["min"] == cost["total"]["max"] == pytest.approx(monthly, abs=0.01)


def test_unknown_instance_type_is_reported_not_guessed() -> None:
    ng = _r("aws:eks/nodeGroup:NodeGroup", "x", {"instanceTypes": ["z9.huge"], "scalingConfig": {"maxSize": 1}})
    cost = estimate(_doc(ng), load_prices("us-east-1"))
    assert cost["total"] == {"min": 0.0, "max": 0.0}
    assert cost["unpriced"] == [
        {"urn": ng["urn"], "type": ng["type"], "reason": "no price for instance type z9.huge in us-east-1"}
    ]


def test_plan_cost_section_per_resource_service_and_stack(plans: dict[str, Any]) -> None:
    staging, prod = plans["staging"]["cost"], plans["prod"]["cost"]
    assert staging["prices"]["taken"] == "2026-06-17"
    assert staging["unpriced"] == []
    assert prod["unpriced"] == []
    # fraud-detector autoscales 1-3 in staging: a range, allocated from m6i.large nodes
    [dep] = [x for x in staging["resources"] if x["urn"].endswith("::fraud-detector-deployment")]
    assert dep["allocated"] is True
    assert (dep["min"], dep["max"]) == (round(0.5 * 0.096 * HOURS, 2), round(3 * 0.5 * 0.096 * HOURS, 2))
    # allocated workload shares are not double counted in the stack total
    direct = [x for x in prod["resources"] if not x["allocated"]]
    assert prod["total"]["max"] == pytest.approx(sum(x["max"] for x in direct), abs=0.01)
    assert set(prod["services"]) == {"(platform)", "fraud-detector", "search-ranker"}
    assert prod["total"]["min"] > staging["total"]["min"]
