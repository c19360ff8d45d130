"""Pod logs on EKS (issue 13) against upstream: Fluent Bit's role holds the cloudwatch_logs
output's documented permissions minus exactly the two that only create groups or set retention,
which the pinned chart is told not to do; one encrypted log group per stack with the stack's
retention receives every container's stream."""

from __future__ import annotations

import json
from typing import Any

from mlinfra.components.eks_logs import FLUENT_BIT_NAMESPACE, NOT_NEEDED
from mlinfra.engine.runner import OfflineRun
from tests.upstream.conftest import UPSTREAM, chart_fixture, load_json, load_yaml

GPU_TAINT = {"key": "nvidia.com/gpu", "effect": "NoSchedule"}


def _one(run: OfflineRun, rtype: str, suffix: str) -> Any:
    [res] = [r for r in run.resources if r.type == rtype and r.name.endswith(suffix)]
    return res


def _values(run: OfflineRun) -> dict[str, Any]:
    [release] = [
        r
        for r in run.resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "aws-for-fluent-bit"
    ]
    return dict(release.inputs["values"])


def test_role_is_the_documented_permissions_minus_group_creation_and_retention(
    eks_runs: dict[str, OfflineRun],
) -> None:
    upstream = load_json(UPSTREAM / "fluent-bit" / "cloudwatch-permissions.json")
    documented = {a for s in upstream["Statement"] for a in s["Action"]}
    assert set(NOT_NEEDED) <= documented
    for stack, run in eks_runs.items():
        policy = json.loads(_one(run, "aws:iam/rolePolicy:RolePolicy", "-fluent-bit-policy").inputs["policy"])
        [statement] = policy["Statement"]
        assert set(statement["Action"]) == documented - set(NOT_NEEDED), stack
        group = _one(run, "aws:cloudwatch/logGroup:LogGroup", "-pod-logs")
        # Only the stack's group and its streams, never `*` as upstream's example.
        assert len(statement["Resource"]) == 1
        assert statement["Resource"] == [f"arn:aws:logs:us-east-1:123456789012:log-group:{group.inputs['name']}:*"]


def test_the_chart_neither_creates_groups_nor_sets_retention(eks_runs: dict[str, OfflineRun]) -> None:
    """Why the two actions are not needed: both are chart defaults mlinfra turns off."""
    defaults = load_yaml(chart_fixture("aws-for-fluent-bit") / "values.yaml")["cloudWatchLogs"]
    assert defaults["autoCreateGroup"] is True
    for run in eks_runs.values():
        logs = _values(run)["cloudWatchLogs"]
        assert logs["autoCreateGroup"] is False
        assert not logs.get("logRetentionDays")
        assert logs["enabled"] is True


def test_one_encrypted_group_per_stack_with_the_stack_retention(eks_runs: dict[str, OfflineRun]) -> None:
    names = set()
    for stack, run in eks_runs.items():
        group = _one(run, "aws:cloudwatch/logGroup:LogGroup", "-pod-logs")
        cluster = _one(run, "aws:eks/cluster:Cluster", "-cluster")
        control = _one(run, "aws:cloudwatch/logGroup:LogGroup", "-control-plane-logs")
        # Both follow mlinfra:eks.logRetentionDays.
        assert group.inputs["retentionInDays"] == control.inputs["retentionInDays"], stack
        assert group.inputs["kmsKeyId"]
        project_stack = cluster.inputs["name"].replace("-", "/", 1)
        assert group.inputs["name"] == f"/{project_stack}/pods"
        logs = _values(run)["cloudWatchLogs"]
        assert logs["logGroupName"] == group.inputs["name"]
        assert logs["region"] == "us-east-1"
        # One stream per container; the namespace is the service's own.
        assert logs["logStreamTemplate"].startswith("$kubernetes['namespace_name'].")
        names.add(group.inputs["name"])
    assert len(names) == len(eks_runs)


def test_the_telemetry_key_lets_cloudwatch_logs_encrypt_only_for_this_account(eks_runs: dict[str, OfflineRun]) -> None:
    run = eks_runs["staging"]
    key = _one(run, "aws:kms/key:Key", "-telemetry-key")
    policy = json.loads(key.inputs["policy"])
    [logs] = [s for s in policy["Statement"] if s["Sid"] == "CloudWatchLogs"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]
    assert "AmpPublishesAlerts" not in {s["Sid"] for s in policy["Statement"]}


def test_fluent_bit_runs_on_gpu_nodes_and_its_role_trusts_only_its_service_account(
    eks_runs: dict[str, OfflineRun],
) -> None:
    run = eks_runs["prod"]
    values = _values(run)
    tolerated = [t for t in values["tolerations"] if t.get("key", GPU_TAINT["key"]) == GPU_TAINT["key"]]
    assert any(t.get("operator") == "Exists" for t in tolerated)
    trust = json.loads(_one(run, "aws:iam/role:Role", "-fluent-bit-role").inputs["assumeRolePolicy"])
    [subject] = [v for k, v in trust["Statement"][0]["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subject == f"system:serviceaccount:{FLUENT_BIT_NAMESPACE}:{values['serviceAccount']['name']}"
