"""The controller's IAM policy grants at least upstream's docs/install/iam_policy.json at the
pinned controller version; narrowing exists only as Deny statements for annotations mlinfra
never renders."""

from __future__ import annotations

import json
from typing import Any

from mlinfra.components.policies import LBC_DENIES
from mlinfra.engine.runner import OfflineRun
from tests.upstream.conftest import chart_fixture, load_json, load_yaml, origin


def _canonical(statement: dict[str, Any]) -> str:
    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: norm(x) for k, x in sorted(v.items())}
        if isinstance(v, list):
            return sorted(norm(x) for x in v)
        return v

    return json.dumps(norm(statement), sort_keys=True)


def _rendered_policy(run: OfflineRun) -> dict[str, Any]:
    [policy] = [
        r for r in run.resources if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name.endswith("-lbc-policy")
    ]
    return dict(json.loads(policy.inputs["policy"]))


def test_fixture_is_the_controller_version_the_chart_runs() -> None:
    fixture = chart_fixture("aws-load-balancer-controller")
    assert origin(fixture)["ref"] == load_yaml(fixture / "Chart.yaml")["appVersion"]


def test_every_upstream_statement_is_granted_unchanged(eks_runs: dict[str, OfflineRun]) -> None:
    upstream = load_json(chart_fixture("aws-load-balancer-controller") / "iam_policy.json")
    for stack, run in eks_runs.items():
        ours = {_canonical(s) for s in _rendered_policy(run)["Statement"]}
        missing = [s for s in upstream["Statement"] if _canonical(s) not in ours]
        assert not missing, f"{stack}: upstream grants missing or altered: {json.dumps(missing, indent=1)}"


def test_extra_statements_are_only_the_documented_denies(eks_runs: dict[str, OfflineRun]) -> None:
    upstream = {
        _canonical(s) for s in load_json(chart_fixture("aws-load-balancer-controller") / "iam_policy.json")["Statement"]
    }
    for run in eks_runs.values():
        extra = [s for s in _rendered_policy(run)["Statement"] if _canonical(s) not in upstream]
        assert all(s["Effect"] == "Deny" for s in extra), extra
        assert {s["Sid"]: s["Action"] for s in extra} == {k: v[0] for k, v in LBC_DENIES.items()}


def test_denied_calls_serve_annotations_no_rendered_ingress_carries(eks_runs: dict[str, OfflineRun]) -> None:
    gates = [annotation for _actions, annotation in LBC_DENIES.values()]
    for run in eks_runs.values():
        ingresses = [r for r in run.resources if r.type == "kubernetes:networking.k8s.io/v1:Ingress"]
        assert ingresses
        for ingress in ingresses:
            used = set((ingress.inputs.get("metadata") or {}).get("annotations") or {})
            assert not used & set(gates), (ingress.name, used & set(gates))


def test_the_calls_the_old_condensed_policy_lacked_are_granted(eks_runs: dict[str, OfflineRun]) -> None:
    """Audit #2: SG ingress on the EKS cluster SG (no elbv2 tag) and rule re-ordering."""
    for run in eks_runs.values():
        allows = [s for s in _rendered_policy(run)["Statement"] if s["Effect"] == "Allow"]
        unconditioned = {
            a
            for s in allows
            if "Condition" not in s and s.get("Resource") == "*"
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
        assert {
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:CreateSecurityGroup",
        } <= unconditioned
        granted = {a for s in allows for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert "elasticloadbalancing:SetRulePriorities" in granted
