"""The CrossGuard pack runs the same rule functions over CrossGuard's own resource objects."""

from __future__ import annotations

import copy
import sys
from typing import Any

import pytest

from mlinfra.policy.rules import rule_ids
from tests.review.conftest import ROOT

pulumi_policy = pytest.importorskip("pulumi_policy", reason="PyPI pulumi-policy (requirements-review.txt)")
sys.path.insert(0, str(ROOT / "policypack"))
from mlinfra_pack import policies  # noqa: E402


def _args(resources: list[dict[str, Any]], tier: str) -> Any:
    """CrossGuard StackValidationArgs as the engine hands them over: objects linked by reference."""
    timeouts = pulumi_policy.PolicyCustomTimeouts(0, 0, 0)
    opts = pulumi_policy.PolicyResourceOptions(False, [], None, [], timeouts, [])
    objects = {
        r["urn"]: pulumi_policy.PolicyResource(r["type"], r["inputs"], r["urn"], r["name"], opts, None, None, [], {})
        for r in resources
    }
    for r in resources:
        objects[r["urn"]].dependencies = [objects[u] for u in r.get("dependencies", []) if u in objects]
    return pulumi_policy.StackValidationArgs(list(objects.values()), config={"tier": tier})


def _violations(resources: list[dict[str, Any]], tier: str) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for policy in policies():
        policy.validate(_args(resources, tier), lambda message, urn=None: found.append((message, urn)))
    return found


def test_pack_publishes_one_policy_per_rule_with_enforcement() -> None:
    pack = policies()
    assert [p.name for p in pack] == rule_ids()
    levels = {p.name: p.enforcement_level for p in pack}
    assert levels["MLI-SEC-001"] == pulumi_policy.EnforcementLevel.MANDATORY
    assert levels["MLI-K8S-014"] == pulumi_policy.EnforcementLevel.ADVISORY


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_pack_passes_the_example_stacks(plans: dict[str, Any], stack: str) -> None:
    assert _violations(plans[stack]["resources"], stack) == []


def test_pack_reports_a_violation_on_the_offending_resource(plans: dict[str, Any]) -> None:
    resources = copy.deepcopy(plans["prod"]["resources"])
    [scaler] = [r for r in resources if r["name"] == "fraud-detector-scaledobject"]
    scaler["inputs"]["spec"]["minReplicaCount"] = 1.0  # the real engine gives floats
    assert _violations(resources, "prod") == [
        ("[MLI-PROD-001] ScaledObject minReplicaCount 1 < 2 in prod", scaler["urn"])
    ]
    assert _violations(resources, "staging") == []
