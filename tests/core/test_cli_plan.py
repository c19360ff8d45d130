"""`mlinfra plan` end to end, in a subprocess, exactly as a user or CI runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.conftest import ROOT, STACK_HEADER

REQUIRED_TYPES = {
    "aws:eks/cluster:Cluster",
    "aws:eks/nodeGroup:NodeGroup",
    "kubernetes:helm.sh/v3:Release",
    "aws:ecr/repository:Repository",
    "docker:index/image:Image",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:Service",
    "kubernetes:networking.k8s.io/v1:Ingress",
    "kubernetes:keda.sh/v1alpha1:ScaledObject",
    "kubernetes:policy/v1:PodDisruptionBudget",
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
}


def mlinfra(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlinfra", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_plan_json_is_complete_and_byte_identical(stack: str) -> None:
    first, second = (
        mlinfra("plan", "--stack", stack, "--format", "json"),
        mlinfra("plan", "--stack", stack, "--format", "json"),
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    doc = json.loads(first.stdout)
    assert set(doc) >= {"project", "stack", "resources", "outputs", "releases", "cost", "policies"}
    types = {r["type"] for r in doc["resources"]}
    assert types >= REQUIRED_TYPES
    for res in doc["resources"]:
        assert set(res) >= {"urn", "type", "name", "parent", "inputs", "dependencies"}
    services = {r["service"] for r in doc["resources"] if r["type"] == "kubernetes:apps/v1:Deployment"}
    assert services == {"fraud-detector", "search-ranker"}
    assert "Traceback" not in first.stderr


def test_table_groups_by_service_with_counts() -> None:
    result = mlinfra("plan", "--stack", "staging")
    assert result.returncode == 0, result.stderr
    heads = [line.split("  ")[:2] for line in result.stdout.splitlines() if line.startswith(("(", "fraud", "search"))]
    assert [h[0] for h in heads] == ["(platform)", "fraud-detector", "search-ranker"]
    assert all(h[1].endswith(" resources") for h in heads)
    assert "kubernetes:apps/v1:Deployment  fraud-detector-deployment" in result.stdout


def test_secure_config_value_never_printed() -> None:
    result = mlinfra("plan", "--stack", "staging", "--format", "json")
    ciphertext = "c3RhZ2luZy1ub3QtYS1yZWFsLWNpcGhlcnRleHQ="
    assert ciphertext in (ROOT / "stacks" / "Pulumi.staging.yaml").read_text()
    assert ciphertext not in result.stdout


@pytest.mark.parametrize(
    ("service", "stack_extra", "expected"),
    [
        ('ModelService("Bad_Name", model_uri="s3://b-1/m/x.onnx")', "", "ModelService('Bad_Name').name"),
        ('ModelService("a", model_uri="s3://b-1/m/x.onnx", replicas=0)', "", "replicas = 0"),
        (
            'ModelService("a", model_uri="s3://b-1/m/x.onnx", autoscaling={"min_replicas": 3, "max_replicas": 1})',
            "",
            "must be <= max_replicas",
        ),
        ('ModelService("a", model_uri="ftp://b/m/x.onnx")', "", "unknown scheme 'ftp'"),
        ('ModelService("a", model_uri="s3://b-1/m/x.onnx")', "  mlinfra:nodes: 3\n", "unknown mlinfra: key"),
        (
            'ModelService("a", model_uri="s3://b-1/m/x.onnx")',
            "  mlinfra:services:\n    b: {replicas: 1}\n",
            "override of an unknown service",
        ),
        (
            'ModelService("a", model_uri="s3://b-1/m/x.onnx")\nModelService("a", model_uri="s3://b-1/m/x.onnx")',
            "",
            "service names must be unique",
        ),
        (
            'ModelService("a", model_uri="s3://b-1/m/x.onnx", gpu=True)',
            "",
            "stack has no node pool for a10g GPU services",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    project,
    service: str,
    stack_extra: str,  # type: ignore[no-untyped-def]
    expected: str,
) -> None:
    root = project(
        services={"svc.py": f"from mlinfra import ModelService\n{service}\n"}, stacks={"s": STACK_HEADER + stack_extra}
    )
    result = mlinfra("plan", "-C", str(root), "--stack", "s")
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert "services/svc.py" in result.stderr or "stacks/Pulumi.s.yaml" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == "", "nothing half-planned may be printed"


def test_unknown_stack_lists_the_available_ones() -> None:
    result = mlinfra("plan", "--stack", "qa")
    assert result.returncode == 2
    available = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
    assert len(available) >= 2
    assert f"available stacks: {', '.join(available)}" in result.stderr
    assert "Traceback" not in result.stderr
