"""`mlinfra render` writes the artifacts of DESIGN.md section 3, in the promised shapes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.gate.conftest import STACKS, mlinfra

pytestmark = pytest.mark.slow


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("stack", STACKS)
def test_layout_has_every_artifact_kind(render_stack: Callable[[str], Path], stack: str) -> None:
    out = render_stack(stack)
    kube = sorted((out / "kubernetes").glob("*.yaml"))
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in kube}
    # One model service on EKS is all of these; a missing kind means render dropped a type.
    assert {"Namespace", "Deployment", "Service", "ServiceAccount", "Ingress", "HorizontalPodAutoscaler",
            "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"} <= kinds
    assert sorted(p.name for p in (out / "images").iterdir()) == ["fraud-detector", "search-ranker"]
    assert all((out / "images" / s / "Dockerfile").is_file() for s in ("fraud-detector", "search-ranker"))
    assert {p.name for p in (out / "iam").glob("*.json")} >= {
        "fraud-detector-policy.policy.json", "fraud-detector-role.trust.json"}
    assert len(list((out / "prometheus").glob("*.yaml"))) == 2
    # Helm releases are listed for review but are not Kubernetes objects of ours.
    assert "Release" not in kinds
    releases = yaml.safe_load((out / "helm" / "releases.yaml").read_text())["releases"]
    assert {r["chart"] for r in releases} >= {"aws-load-balancer-controller", "kube-prometheus-stack"}


@pytest.mark.parametrize("stack", STACKS)
def test_one_document_per_object_with_integers_as_integers(render_stack: Callable[[str], Path],
                                                            stack: str) -> None:
    out = render_stack(stack)
    for path in (out / "kubernetes").glob("*.yaml"):
        docs = list(yaml.safe_load_all(path.read_text()))
        assert len(docs) == 1, path
        assert docs[0]["metadata"]["name"], path
    deployment = yaml.safe_load((out / "kubernetes" / "ml-fraud-detector.deployment.fraud-detector.yaml")
                                .read_text())
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # The wire form carries floats (8080.0); Kubernetes rejects those where it wants int32.
    assert type(container["ports"][0]["containerPort"]) is int
    assert type(pod["terminationGracePeriodSeconds"]) is int
    assert type(pod["securityContext"]["runAsUser"]) is int
    hpa = yaml.safe_load((out / "kubernetes" / "ml-fraud-detector.horizontalpodautoscaler.fraud-detector.yaml")
                         .read_text())
    assert type(hpa["spec"]["minReplicas"]) is int
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def test_iam_documents_are_policy_json(render_stack: Callable[[str], Path]) -> None:
    out = render_stack("staging")
    policy = json.loads((out / "iam" / "fraud-detector-policy.policy.json").read_text())
    assert policy == {"Version": "2012-10-17", "Statement": [{
        "Sid": "ReadOwnModel", "Effect": "Allow", "Action": ["s3:GetObject"],
        "Resource": ["arn:aws:s3:::acme-models/fraud/v12/*"]}]}
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
    available = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (project / "stacks").glob("Pulumi.*.yaml"))
    assert f"available stacks: {', '.join(available)}" in result.stderr
    assert "Traceback" not in result.stderr
