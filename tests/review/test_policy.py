"""Every rule passes on the example stacks and fires on a deliberately bad input."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlinfra.policy.evaluate import evaluate, findings
from mlinfra.policy.rules import rule_ids
from mlinfra.spec.errors import SpecError
from mlinfra.spec.stack import Suppression
from tests.review.conftest import assert_bad_input, mlinfra

Res = list[dict[str, Any]]


def one(resources: Res, type_suffix: str, name: str = "") -> dict[str, Any]:
    found = [r for r in resources if r["type"].endswith(type_suffix) and r["name"].endswith(name)]
    assert found, (type_suffix, name)
    return found[0]


def container(resources: Res, service: str = "fraud-detector") -> dict[str, Any]:
    dep = one(resources, ":Deployment", f"{service}-deployment")
    return dep["inputs"]["spec"]["template"]["spec"]["containers"][0]


def pod(resources: Res) -> dict[str, Any]:
    return one(resources, ":Deployment", "fraud-detector-deployment")["inputs"]["spec"]["template"]["spec"]


def drop(resources: Res, type_suffix: str, name: str = "") -> None:
    resources[:] = [r for r in resources if not (r["type"].endswith(type_suffix) and r["name"].endswith(name))]


def set_annotation(resources: Res, key: str, value: str) -> None:
    one(resources, ":Ingress", "fraud-detector-ingress")["inputs"]["metadata"]["annotations"][key] = value


ANN = "alb.ingress.kubernetes.io/"


def _env(resources: Res, name: str, value: str) -> None:
    envs = container(resources)["env"]
    envs[:] = [e for e in envs if e["name"] != name] + [{"name": name, "value": value}]


def _policy(resources: Res, statement: dict[str, Any]) -> None:
    one(resources, ":RolePolicy", "fraud-detector-policy")["inputs"]["policy"] = json.dumps(
        {"Version": "2012-10-17", "Statement": [statement]}
    )


# Each case: rule id -> a mutation of the staging plan (prod plan for prod-only rules).
EKS_CASES: dict[str, Callable[[Res], None]] = {
    "MLI-K8S-001": lambda r: container(r)["resources"].pop("limits"),
    "MLI-K8S-002": lambda r: container(r).update(livenessProbe=container(r)["readinessProbe"]),
    "MLI-K8S-003": lambda r: (
        container(r)["securityContext"].update(runAsUser=0),
        pod(r)["securityContext"].update(runAsUser=0),
    ),
    "MLI-K8S-004": lambda r: container(r)["securityContext"].update(allowPrivilegeEscalation=True),
    "MLI-K8S-005": lambda r: container(r)["securityContext"].update(capabilities={"drop": []}),
    "MLI-K8S-006": lambda r: (
        container(r)["securityContext"].pop("seccompProfile"),
        pod(r)["securityContext"].pop("seccompProfile"),
    ),
    "MLI-K8S-007": lambda r: container(r)["securityContext"].update(readOnlyRootFilesystem=False),
    "MLI-K8S-008": lambda r: pod(r).update(serviceAccountName="default"),
    "MLI-K8S-009": lambda r: one(r, ":ScaledObject")["inputs"]["metadata"].update(namespace="default"),
    "MLI-K8S-010": lambda r: one(r, ":Deployment")["inputs"]["spec"].update(replicas=3),
    "MLI-K8S-011": lambda r: container(r).update(lifecycle={"preStop": {"sleep": {"seconds": 999}}}),
    "MLI-K8S-012": lambda r: drop(r, ":PodDisruptionBudget", "fraud-detector-pdb"),
    "MLI-K8S-013": lambda r: drop(r, ":NetworkPolicy", "fraud-detector-netpol"),
    "MLI-K8S-014": lambda r: pod(r).update(topologySpreadConstraints=[]),
    "MLI-SEC-001": lambda r: one(r, "core/v1:Secret")["inputs"].update(stringData={"fraud-api-key": "hunter2"}),
    "MLI-SEC-002": lambda r: _env(r, "DB_PASSWORD", "hunter2"),
    "MLI-ECR-001": lambda r: one(r, ":Repository")["inputs"].update(imageTagMutability="MUTABLE"),
    "MLI-ECR-002": lambda r: one(r, ":Repository")["inputs"].update(imageScanningConfiguration={"scanOnPush": False}),
    "MLI-ECR-003": lambda r: one(r, ":Repository")["inputs"].update(
        encryptionConfigurations=[{"encryptionType": "AES256"}]
    ),
    "MLI-ECR-004": lambda r: drop(r, ":LifecyclePolicy"),
    "MLI-EKS-001": lambda r: one(r, "eks/cluster:Cluster")["inputs"].update(enabledClusterLogTypes=["api"]),
    "MLI-EKS-002": lambda r: one(r, "eks/cluster:Cluster")["inputs"].pop("encryptionConfig"),
    "MLI-EKS-003": lambda r: one(r, "eks/cluster:Cluster")["inputs"]["vpcConfig"].update(
        publicAccessCidrs=["0.0.0.0/0"]
    ),
    "MLI-EKS-004": lambda r: one(r, ":LaunchTemplate")["inputs"]["metadataOptions"].update(httpTokens="optional"),
    "MLI-EKS-005": lambda r: one(r, ":NodeGroup", "gpu-a10g")["inputs"].pop("taints"),
    "MLI-EKS-006": lambda r: drop(r, ":Release", "nvidia-device-plugin"),
    "MLI-LOG-001": lambda r: one(r, ":LogGroup")["inputs"].pop("retentionInDays"),
    "MLI-NET-001": lambda r: set_annotation(r, ANN + "scheme", "internet-facing"),
    "MLI-ALB-001": lambda r: set_annotation(r, ANN + "ssl-policy", "ELBSecurityPolicy-2016-08"),
    "MLI-ALB-002": lambda r: set_annotation(r, ANN + "load-balancer-attributes", "idle_timeout.timeout_seconds=60"),
    "MLI-ALB-003": lambda r: _env(r, "MLINFRA_KEEPALIVE_TIMEOUT_S", "30"),
    "MLI-IAM-001": lambda r: _policy(r, {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/p/*"}),
    "MLI-IAM-002": lambda r: _policy(r, {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}),
}
PROD_CASES: dict[str, Callable[[Res], None]] = {
    "MLI-PROD-001": lambda r: one(r, ":ScaledObject", "fraud-detector-scaledobject")["inputs"]["spec"].update(
        minReplicaCount=1
    ),
    "MLI-PROD-002": lambda r: set_annotation(
        r, ANN + "load-balancer-attributes", "routing.http.drop_invalid_header_fields.enabled=true"
    ),
}


def ecs_resources() -> Res:
    """A well-formed ECS/ALB service graph in wire form, as the ECS platform records it."""
    container_def = {
        "name": "model",
        "image": "repo@sha256:" + "a" * 64,
        "user": "10001",
        "readonlyRootFilesystem": True,
        "environment": [],
        "secrets": [{"name": "MLINFRA_API_KEYS", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:k"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {}},
    }
    u = "urn:pulumi:prod::p::"
    return [
        {
            "urn": u + "aws:ecs/cluster:Cluster::c",
            "type": "aws:ecs/cluster:Cluster",
            "name": "c",
            "service": "(platform)",
            "dependencies": [],
            "inputs": {"settings": [{"name": "containerInsights", "value": "enabled"}]},
        },
        {
            "urn": u + "aws:ecs/taskDefinition:TaskDefinition::t",
            "type": "aws:ecs/taskDefinition:TaskDefinition",
            "name": "t",
            "service": "svc",
            "dependencies": [],
            "inputs": {
                "cpu": "1024",
                "memory": "2048",
                "containerDefinitions": json.dumps([container_def]),
                "taskRoleArn": "arn:aws:iam::1:role/task",
                "executionRoleArn": "arn:aws:iam::1:role/exec",
            },
        },
        {
            "urn": u + "aws:ecs/service:Service::s",
            "type": "aws:ecs/service:Service",
            "name": "s",
            "service": "svc",
            "dependencies": [u + "aws:ecs/taskDefinition:TaskDefinition::t"],
            "inputs": {
                "desiredCount": 2,
                "launchType": "FARGATE",
                "healthCheckGracePeriodSeconds": 180,
                "loadBalancers": [{"containerName": "model", "containerPort": 8080}],
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
        },
        {
            "urn": u + "aws:appautoscaling/target:Target::a",
            "type": "aws:appautoscaling/target:Target",
            "name": "a",
            "service": "svc",
            "dependencies": [u + "aws:ecs/service:Service::s"],
            "inputs": {"minCapacity": 2, "maxCapacity": 6, "scalableDimension": "ecs:service:DesiredCount"},
        },
        {
            "urn": u + "aws:lb/loadBalancer:LoadBalancer::lb",
            "type": "aws:lb/loadBalancer:LoadBalancer",
            "name": "lb",
            "service": "svc",
            "dependencies": [],
            "inputs": {
                "internal": False,
                "loadBalancerType": "application",
                "dropInvalidHeaderFields": True,
                "enableDeletionProtection": True,
            },
        },
        {
            "urn": u + "aws:lb/listener:Listener::https",
            "type": "aws:lb/listener:Listener",
            "name": "https",
            "service": "svc",
            "dependencies": [u + "aws:lb/loadBalancer:LoadBalancer::lb"],
            "inputs": {
                "protocol": "HTTPS",
                "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "defaultActions": [{"type": "forward"}],
            },
        },
        {
            "urn": u + "aws:lb/listener:Listener::http",
            "type": "aws:lb/listener:Listener",
            "name": "http",
            "service": "svc",
            "dependencies": [u + "aws:lb/loadBalancer:LoadBalancer::lb"],
            "inputs": {"protocol": "HTTP", "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS"}}]},
        },
    ]


def _container_defs(r: Res, **change: Any) -> None:
    task = one(r, ":TaskDefinition")
    defs = json.loads(task["inputs"]["containerDefinitions"])
    defs[0].update(change)
    task["inputs"]["containerDefinitions"] = json.dumps(defs)


ECS_CASES: dict[str, Callable[[Res], None]] = {
    "MLI-ECS-001": lambda r: one(r, ":Service")["inputs"].update(deploymentCircuitBreaker={"enable": True}),
    "MLI-ECS-002": lambda r: one(r, ":Service")["inputs"].pop("healthCheckGracePeriodSeconds"),
    "MLI-ECS-003": lambda r: _container_defs(r, user="root"),
    "MLI-ECS-004": lambda r: one(r, ":TaskDefinition")["inputs"].update(taskRoleArn="arn:aws:iam::1:role/exec"),
    "MLI-ECS-005": lambda r: _container_defs(r, logConfiguration={"logDriver": "json-file"}),
    "MLI-ECS-006": lambda r: one(r, "ecs/cluster:Cluster")["inputs"].update(settings=[]),
}
# The aws:lb branches of the shared load-balancer rules, on the ECS graph.
ECS_LB_CASES: dict[str, Callable[[Res], None]] = {
    "MLI-NET-001": lambda r: _container_defs(r, environment=[], secrets=[]),
    "MLI-ALB-001": lambda r: one(r, ":Listener", "https")["inputs"].update(sslPolicy="ELBSecurityPolicy-2016-08"),
    "MLI-ALB-002": lambda r: one(r, ":LoadBalancer")["inputs"].update(dropInvalidHeaderFields=False),
    "MLI-PROD-001": lambda r: one(r, ":Target")["inputs"].update(minCapacity=1),
    "MLI-PROD-002": lambda r: one(r, ":LoadBalancer")["inputs"].update(enableDeletionProtection=False),
    "MLI-SEC-002": lambda r: _container_defs(r, environment=[{"name": "HF_TOKEN", "value": "hf_abc"}]),
}


def fired(resources: Res, *, production: bool) -> set[str]:
    return {f["id"] for f, _ in findings(resources, production=production)}


def test_every_rule_has_a_firing_case() -> None:
    assert set(EKS_CASES) | set(PROD_CASES) | set(ECS_CASES) == set(rule_ids())


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_example_stacks_pass_every_rule(plans: dict[str, Any], stack: str) -> None:
    pol = plans[stack]["policies"]
    assert pol["passed"] is True, pol["findings"]
    assert pol["rules"] == len(rule_ids()) - (0 if stack == "prod" else len(PROD_CASES))


@pytest.mark.parametrize("rule_id", sorted(EKS_CASES))
def test_rule_fires_on_bad_eks_input(plans: dict[str, Any], rule_id: str) -> None:
    resources = copy.deepcopy(plans["staging"]["resources"])
    EKS_CASES[rule_id](resources)
    assert rule_id in fired(resources, production=False)


@pytest.mark.parametrize("rule_id", sorted(PROD_CASES))
def test_prod_rule_fires_only_in_prod(plans: dict[str, Any], rule_id: str) -> None:
    resources = copy.deepcopy(plans["prod"]["resources"])
    PROD_CASES[rule_id](resources)
    assert rule_id in fired(resources, production=True)
    assert rule_id not in fired(resources, production=False)


def test_good_ecs_graph_passes() -> None:
    assert fired(ecs_resources(), production=True) == set()


@pytest.mark.parametrize(("rule_id", "mutate"), sorted({**ECS_CASES}.items()) + sorted(ECS_LB_CASES.items()))
def test_rule_fires_on_bad_ecs_input(rule_id: str, mutate: Callable[[Res], None]) -> None:
    resources = ecs_resources()
    mutate(resources)
    assert rule_id in fired(resources, production=True)


def test_suppression_with_reason_silences_one_finding(plans: dict[str, Any]) -> None:
    resources = copy.deepcopy(plans["staging"]["resources"])
    EKS_CASES["MLI-K8S-014"](resources)
    reason = "single-AZ staging cluster, spread is pointless here"
    result = evaluate(
        resources,
        tier="staging",
        suppressions=(
            Suppression(id="MLI-K8S-014", resource="fraud-detector-*", reason=reason),
            Suppression(id="MLI-ECR-001", resource="nothing-matches", reason="kept to show unused ones are listed"),
        ),
    )
    [finding] = result["findings"]
    assert finding["suppressed"] == reason
    assert result["passed"] is True
    assert result["violations"] == 0
    assert result["suppressed"] == 1
    assert result["unused_suppressions"] == [{"id": "MLI-ECR-001", "resource": "nothing-matches"}]


def test_unknown_rule_id_in_suppression_is_bad_input() -> None:
    with pytest.raises(SpecError, match=r"mlinfra:policy\.suppressions\[0\]\.id.*MLI-ALB-001"):
        evaluate([], tier="prod", suppressions=(Suppression(id="MLI-NOPE", reason="a reason long enough"),))


def _set_config(project: Path, stack: str, extra: str) -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    path.write_text(path.read_text().rstrip("\n") + "\n" + extra)


@pytest.mark.slow
def test_strict_exits_1_on_violation_and_0_when_suppressed(project: Path) -> None:
    # A prod override that breaks the HA rule: one fixed replica.
    text = (project / "stacks" / "Pulumi.prod.yaml").read_text().replace("replicas: 3", "replicas: 1")
    (project / "stacks" / "Pulumi.prod.yaml").write_text(text)
    lax = mlinfra("plan", "--stack", "prod", "--format", "json", cwd=project)
    assert lax.returncode == 0, lax.stderr
    ids = {(f["id"], f["urn"].rsplit("::", 1)[-1]) for f in json.loads(lax.stdout)["policies"]["findings"]}
    assert ids == {("MLI-PROD-001", "search-ranker-deployment")}
    strict = mlinfra("plan", "--stack", "prod", "--strict", cwd=project)
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "MLI-PROD-001" in strict.stdout
    _set_config(
        project,
        "prod",
        "  mlinfra:policy:\n    suppressions:\n      - id: MLI-PROD-001\n"
        "        resource: search-ranker-*\n"
        "        reason: batch ranker, brief outages are fine\n",
    )
    assert mlinfra("plan", "--stack", "prod", "--strict", cwd=project).returncode == 0


def test_suppression_without_reason_is_bad_input(project: Path) -> None:
    _set_config(project, "staging", "  mlinfra:policy:\n    suppressions:\n      - id: MLI-K8S-014\n")
    assert_bad_input(
        mlinfra("plan", "--stack", "staging", cwd=project),
        "stacks/Pulumi.staging.yaml",
        "mlinfra:policy.suppressions.0.reason",
        "required",
    )


def test_suppression_with_unknown_id_is_bad_input(project: Path) -> None:
    _set_config(
        project,
        "staging",
        "  mlinfra:policy:\n    suppressions:\n      - id: K8S-14\n"
        "        reason: typo in the id should not be ignored\n",
    )
    assert_bad_input(
        mlinfra("plan", "--stack", "staging", cwd=project),
        "stacks/Pulumi.staging.yaml",
        "mlinfra:policy.suppressions[0].id",
        "MLI-K8S-014",
    )
