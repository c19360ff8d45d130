"""`mlinfra render` writes the artifacts of docs/architecture.md ("Contracts"), in the promised shapes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.gate.conftest import ECS_STACKS, EKS_STACKS, mlinfra

pytestmark = pytest.mark.slow


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# The artifact directories each platform's render must write, and nothing else of ours.
LAYOUT = {
    "eks": {"kubernetes", "iam", "prometheus", "images", "helm", "monitoring"},
    "ecs": {"ecs", "iam", "prometheus", "images", "monitoring"},
}
SERVICES = ["fraud-detector", "search-ranker"]


def _written_dirs(out: Path) -> set[str]:
    return {p.name for p in out.iterdir() if p.is_dir() and any(p.iterdir())}


def _assert_common_artifacts(out: Path) -> None:
    assert sorted(p.name for p in (out / "images").iterdir()) == SERVICES
    assert all((out / "images" / s / "Dockerfile").is_file() for s in SERVICES)
    assert len(list((out / "prometheus").glob("*.yaml"))) == len(SERVICES)
    for path in (out / "prometheus").glob("*.yaml"):
        groups = yaml.safe_load(path.read_text())["groups"]
        assert groups, path
        assert all(g["rules"] for g in groups), path


@pytest.mark.parametrize("stack", EKS_STACKS)
def test_layout_has_every_artifact_kind(render_stack: Callable[[str], Path], stack: str) -> None:
    out = render_stack(stack)
    assert _written_dirs(out) == LAYOUT["eks"]
    kube = sorted((out / "kubernetes").glob("*.yaml"))
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in kube}
    # One model service on EKS is all of these; a missing kind means render dropped a type.
    assert {
        "Namespace",
        "Deployment",
        "Service",
        "ServiceAccount",
        "Ingress",
        "ScaledObject",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
    } <= kinds
    _assert_common_artifacts(out)
    assert {p.name for p in (out / "iam").glob("*.json")} >= {
        "fraud-detector-policy.policy.json",
        "fraud-detector-role.trust.json",
    }
    # Helm releases are listed for review but are not Kubernetes objects of ours.
    assert "Release" not in kinds
    releases = yaml.safe_load((out / "helm" / "releases.yaml").read_text())["releases"]
    assert {r["chart"] for r in releases} >= {"aws-load-balancer-controller", "kube-prometheus-stack"}


@pytest.mark.parametrize("stack", ECS_STACKS)
def test_ecs_layout_has_every_artifact_kind(render_stack: Callable[[str], Path], stack: str) -> None:
    out = render_stack(stack)
    assert _written_dirs(out) == LAYOUT["ecs"]
    assert not list(out.glob("kubernetes/*")), "an ECS stack has no Kubernetes objects"
    assert sorted(p.name for p in (out / "ecs").glob("*.json")) == [f"mlinfra-{stack}-{s}.json" for s in SERVICES]
    _assert_common_artifacts(out)
    assert {p.name for p in (out / "iam").glob("*.json")} >= {
        f"{s}-{doc}.json" for s in SERVICES for doc in ("task-policy.policy", "task-role.trust", "execution-role.trust")
    }
    # Every AMP rule groups namespace of the plan is rendered, verbatim.
    plan = json.loads(mlinfra("plan", "--stack", stack, "--format", "json").stdout)
    data = {
        r["inputs"]["name"]: r["inputs"]["data"]
        for r in plan["resources"]
        if r["type"] == "aws:amp/ruleGroupNamespace:RuleGroupNamespace"
    }
    assert {f"amp.{name}.yaml": text for name, text in data.items()} == {
        p.name: p.read_text() for p in (out / "prometheus").glob("*.yaml")
    }


@pytest.mark.parametrize("stack", EKS_STACKS)
def test_one_document_per_object_with_integers_as_integers(render_stack: Callable[[str], Path], stack: str) -> None:
    out = render_stack(stack)
    for path in (out / "kubernetes").glob("*.yaml"):
        docs = list(yaml.safe_load_all(path.read_text()))
        assert len(docs) == 1, path
        assert docs[0]["metadata"]["name"], path
    deployment = yaml.safe_load((out / "kubernetes" / "ml-fraud-detector.deployment.fraud-detector.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # The wire form carries floats (8080.0); Kubernetes rejects those where it wants int32.
    assert type(container["ports"][0]["containerPort"]) is int
    assert type(pod["terminationGracePeriodSeconds"]) is int
    assert type(pod["securityContext"]["runAsUser"]) is int
    scaler = yaml.safe_load((out / "kubernetes" / "ml-fraud-detector.scaledobject.fraud-detector.yaml").read_text())
    assert type(scaler["spec"]["minReplicaCount"]) is int
    assert type(scaler["spec"]["pollingInterval"]) is int
    assert "replicas" not in deployment["spec"], "KEDA's HPA owns the replica count"


@pytest.mark.parametrize("stack", ECS_STACKS)
def test_ecs_task_definition_is_the_request_with_integers_as_integers(
    render_stack: Callable[[str], Path], stack: str
) -> None:
    task = json.loads((render_stack(stack) / "ecs" / f"mlinfra-{stack}-fraud-detector.json").read_text())
    assert task["family"] == f"mlinfra-{stack}-fraud-detector"
    # RegisterTaskDefinition takes the container definitions as a list, not Pulumi's JSON string.
    model = next(c for c in task["containerDefinitions"] if c["name"] == "model")
    assert type(model["portMappings"][0]["containerPort"]) is int
    assert type(model["stopTimeout"]) is int
    assert type(model["healthCheck"]["startPeriod"]) is int
    assert task["tags"]
    assert all(set(t) == {"key", "value"} for t in task["tags"])


def test_iam_documents_are_policy_json(render_stack: Callable[[str], Path]) -> None:
    out = render_stack("staging")
    policy = json.loads((out / "iam" / "fraud-detector-policy.policy.json").read_text())
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadOwnModel",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": ["arn:aws:s3:::acme-models/fraud/v12/*"],
            }
        ],
    }
    trust = json.loads((out / "iam" / "fraud-detector-role.trust.json").read_text())
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert "system:serviceaccount:ml-fraud-detector:fraud-detector" in condition.values()


def test_prometheus_rule_file_is_the_prometheusrule_spec(render_stack: Callable[[str], Path]) -> None:
    out = render_stack("staging")
    crd = yaml.safe_load((out / "kubernetes" / "ml-search-ranker.prometheusrule.search-ranker.yaml").read_text())
    plain = yaml.safe_load((out / "prometheus" / "ml-search-ranker.search-ranker.yaml").read_text())
    assert plain == {"groups": crd["spec"]["groups"]}
    alerts = [r["alert"] for r in plain["groups"][0]["rules"]]
    assert "MlinfraGpuSaturated" in alerts  # the ranker runs on a GPU


def test_render_is_deterministic_and_replaces_its_own_output(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = mlinfra("render", "--stack", "staging", "--out", str(out), "-C", str(project))
    assert first.returncode == 0, first.stderr
    digest = _tree_digest(out)
    stale = out / "kubernetes" / "stale.yaml"
    stale.write_text("kind: Stale\n")
    second = mlinfra("render", "--stack", "staging", "--out", str(out), "-C", str(project))
    assert second.returncode == 0, second.stderr
    assert not stale.exists()
    assert _tree_digest(out) == digest


def test_refuses_a_foreign_non_empty_directory(project: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    result = mlinfra("render", "--stack", "staging", "--out", str(foreign), "-C", str(project))
    assert result.returncode == 2
    assert "not written by `mlinfra render`" in result.stderr
    assert "Traceback" not in result.stderr
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_unknown_stack_is_bad_input(project: Path, tmp_path: Path) -> None:
    result = mlinfra("render", "--stack", "qa", "--out", str(tmp_path / "o"), "-C", str(project))
    assert result.returncode == 2
    assert "stacks/Pulumi.qa.yaml" in result.stderr
    available = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (project / "stacks").glob("Pulumi.*.yaml"))
    assert f"available stacks: {', '.join(available)}" in result.stderr
    assert "Traceback" not in result.stderr
