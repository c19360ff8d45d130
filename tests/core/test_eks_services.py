"""Per-service traffic on EKS: isolating network policies, per-service source CIDRs on a shared
ALB, shutdown timings that line up, readiness gates, fail-closed API keys (issue 10)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path

from mlinfra.engine.runner import OfflineRun, run_offline
from tests.core.conftest import STACK_HEADER, all_of, only

PUBLIC = """from mlinfra import ModelService
ModelService("{name}", model_uri="s3://b-1/m/{name}.onnx", public=True, auth="api_key",
             secrets=["api-keys"], allowed_cidrs={cidrs!r}, request_timeout_seconds={timeout})
"""
ARNS = "  mlinfra:secretArns:\n    api-keys: arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf\n"


def _env(run: OfflineRun, service: str) -> dict[str, object]:
    dep = only(run, "kubernetes:apps/v1:Deployment", f"{service}-deployment").inputs
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_every_service_namespace_denies_by_default(staging: OfflineRun) -> None:
    denies = {
        r.inputs["metadata"]["namespace"]: r.inputs["spec"]
        for r in all_of(staging, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.name.endswith("-default-deny")
    }
    namespaces = {
        r.inputs["metadata"]["name"]
        for r in all_of(staging, "kubernetes:core/v1:Namespace")
        if r.inputs["metadata"]["name"].startswith("ml-")
    }
    assert set(denies) == namespaces
    for spec in denies.values():
        assert spec == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_pods_admit_only_load_balancer_subnets_and_monitoring(staging: OfflineRun) -> None:
    pods = [
        ipaddress.ip_network(s.inputs["cidrBlock"])
        for s in all_of(staging, "aws:ec2/subnet:Subnet")
        if "-private-" in s.name
    ]
    lbs = {
        s.inputs["cidrBlock"]
        for s in all_of(staging, "aws:ec2/subnet:Subnet")
        if "-public-" in s.name or "-internal-lb-" in s.name
    }
    policy = only(staging, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "fraud-detector-netpol").inputs["spec"]
    blocks = {p["ipBlock"]["cidr"] for p in policy["ingress"][0]["from"]}
    assert blocks == lbs
    assert not any(ipaddress.ip_network(b).overlaps(p) for b in blocks for p in pods)  # not every pod
    assert policy["ingress"][1]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    dns, https = policy["egress"]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert https == {"ports": [{"port": 443, "protocol": "TCP"}]}


def test_per_service_cidrs_are_rule_conditions_never_shared_inbound_cidrs(project: Callable[..., Path]) -> None:
    root = project(
        services={
            "a.py": PUBLIC.format(name="alpha", cidrs=["203.0.113.0/24"], timeout=30),
            "b.py": PUBLIC.format(name="beta", cidrs=["198.51.100.0/24"], timeout=30),
        },
        stacks={"s": STACK_HEADER + ARNS},
    )
    run = run_offline(root, "s")
    groups = set()
    for name, cidr in (("alpha", "203.0.113.0/24"), ("beta", "198.51.100.0/24")):
        ingress = only(run, "kubernetes:networking.k8s.io/v1:Ingress", f"{name}-ingress").inputs
        ann = ingress["metadata"]["annotations"]
        groups.add(ann["alb.ingress.kubernetes.io/group.name"])
        assert "alb.ingress.kubernetes.io/inbound-cidrs" not in ann
        # The conditions-name must be the backend service name of the Ingress rule.
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        assert json.loads(ann[f"alb.ingress.kubernetes.io/conditions.{backend}"]) == [
            {"field": "source-ip", "sourceIpConfig": {"values": [cidr]}}
        ]
    assert len(groups) == 1  # one shared public ALB, two different source lists


def test_shutdown_timings_follow_the_request_timeout(project: Callable[..., Path]) -> None:
    root = project(
        services={"a.py": PUBLIC.format(name="slow", cidrs=[], timeout=90)}, stacks={"s": STACK_HEADER + ARNS}
    )
    run = run_offline(root, "s")
    dep = only(run, "kubernetes:apps/v1:Deployment", "slow-deployment").inputs["spec"]["template"]["spec"]
    pre_stop = dep["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = float(_env(run, "slow")["MLINFRA_DRAIN_TIMEOUT_S"])  # type: ignore[arg-type]
    ann = only(run, "kubernetes:networking.k8s.io/v1:Ingress", "slow-ingress").inputs["metadata"]["annotations"]
    dereg = int(ann["alb.ingress.kubernetes.io/target-group-attributes"].split("=")[1])
    assert dereg > 90  # the ALB never cuts a request the service allows
    assert drain > 90  # nor does the runtime's drain
    assert pre_stop >= 15
    assert dep["terminationGracePeriodSeconds"] > pre_stop + drain  # nor the kubelet


def test_service_namespaces_get_alb_readiness_gates(staging: OfflineRun) -> None:
    for ns in all_of(staging, "kubernetes:core/v1:Namespace"):
        if ns.inputs["metadata"]["name"].startswith("ml-"):
            assert ns.inputs["metadata"]["labels"]["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"


def test_api_key_services_fail_closed_and_read_keys_from_their_secret_arn(project: Callable[..., Path]) -> None:
    root = project(
        services={"a.py": PUBLIC.format(name="alpha", cidrs=[], timeout=30)}, stacks={"s": STACK_HEADER + ARNS}
    )
    env = _env(run_offline(root, "s"), "alpha")
    assert env["MLINFRA_REQUIRE_API_KEY"] == "true"
    assert env["MLINFRA_SECRET_ARN_API_KEYS"] == "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf"
    assert "MLINFRA_API_KEYS" not in env  # the runtime reads it from Secrets Manager (tests/serving)


def test_secrets_manager_api_keys_work_with_any_model_source(project: Callable[..., Path]) -> None:
    # The runtime reads Secrets Manager with its own stdlib client (mlinfra.serving.aws), which
    # every image carries: an https model may take its API keys from a secret ARN too.
    https = PUBLIC.format(name="alpha", cidrs=[], timeout=30).replace(
        "s3://b-1/m/alpha.onnx", "https://models.example.com/m/alpha.onnx"
    )
    root = project(services={"a.py": https}, stacks={"s": STACK_HEADER + ARNS})
    run = run_offline(root, "s")
    env = _env(run, "alpha")
    assert env["MLINFRA_SECRET_ARN_API_KEYS"] == "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf"
    policies = [r.inputs["policy"] for r in all_of(run, "aws:iam/rolePolicy:RolePolicy") if "alpha" in r.name]
    assert len(policies) == 1
    assert json.loads(policies[0])["Statement"] == [
        {
            "Sid": "ReadOwnSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": ["arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf"],
        }
    ]
