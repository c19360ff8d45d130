"""`examples/existing-cluster/` and `examples/existing-ecs-cluster/`: one model service added to
infrastructure another program owns, run under Pulumi's mocks; the recorded resources are those
of a hardened service on that infrastructure, and nothing of mlinfra's platform."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from mlinfra.engine.recorder import RecordingMocks, RecordingMonitor, _short_hash

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE = EXAMPLES / "existing-cluster"
ECS_EXAMPLE = EXAMPLES / "existing-ecs-cluster"
OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123"
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/ABC123"


PLATFORM_OUTPUTS = {
    "kubeconfig": "apiVersion: v1\nkind: Config\n",
    "oidc_provider_arn": OIDC_ARN,
    "oidc_issuer": ISSUER,
    "alb_logs_bucket": "acme-alb-logs",
    "cluster_arn": "arn:aws:ecs:us-east-1:123456789012:cluster/acme-ml",
    "https_listener_arn": (
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/acme/50dc6c495c0c9188/f2f7dc8efc522ab2"
    ),
    "alb_security_group_id": "sg-0a1b2c3d4e5f60718",
    "alb_arn_suffix": "app/acme/50dc6c495c0c9188",
    "amp_workspace_id": "ws-0123abcd-4567-89ef-0123-456789abcdef",
    "amp_workspace_arn": "arn:aws:aps:us-east-1:123456789012:workspace/ws-0123abcd-4567-89ef-0123-456789abcdef",
    "amp_remote_write_url": "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd/api/v1/remote_write",
    "logs_key_arn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "vpc_id": "vpc-0a1b2c3d4e5f60718",
    "private_subnet_a": "subnet-0a1b2c3d4e5f60718",
    "private_subnet_b": "subnet-0f1e2d3c4b5a69788",
}


class ClusterStackMocks(RecordingMocks):
    """The recording mocks, plus the outputs of the (fake) cluster program's stack."""

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            return args.name, {
                "name": args.name,
                "outputs": PLATFORM_OUTPUTS,
                "secretOutputNames": [],
            }
        return super().new_resource(args)


def _run_example(monkeypatch: Any, example: Path = EXAMPLE) -> list[Any]:
    recording = ClusterStackMocks("us-east-1")
    monitor = RecordingMonitor(recording)
    pulumi_settings.reset_options(project="team-fraud", stack="prod")
    pulumi.runtime.set_mocks(recording, project="team-fraud", stack="prod", preview=False, monitor=monitor)
    monkeypatch.chdir(example)
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(example / "__main__.py"), run_name="__main__")))
    finally:
        pulumi_settings.reset_options()
    return monitor.recorded


def test_one_service_on_an_existing_cluster(monkeypatch: Any) -> None:
    resources = _run_example(monkeypatch)
    types = {r.type for r in resources}
    assert "mlinfra:index:KubernetesModelService" in types
    assert not {t for t in types if t.startswith("aws:eks/") or t.endswith(("Platform", "Network"))}
    by_name = {(r.type, r.name): r for r in resources}
    service = by_name[("mlinfra:index:KubernetesModelService", "fraud")]
    provider = by_name[("pulumi:providers:kubernetes", "existing-cluster")]
    deployment = by_name[("kubernetes:apps/v1:Deployment", "fraud-deployment")]
    assert deployment.parent == service.urn
    assert deployment.inputs["metadata"]["namespace"] == "ml-fraud"
    pod = deployment.inputs["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["image"].endswith("@sha256:" + "0" * 64)
    # IRSA trust on the other program's OIDC provider, for this service's account only.
    trust = json.loads(by_name[("aws:iam/role:Role", "fraud-role")].inputs["assumeRolePolicy"])
    statement = trust["Statement"][0]
    assert statement["Principal"] == {"Federated": OIDC_ARN}
    assert statement["Condition"]["StringEquals"][f"{ISSUER}:sub"] == "system:serviceaccount:ml-fraud:fraud"
    # Every Kubernetes object goes to the existing cluster's provider (recorded by its id).
    k8s_objects = [r for r in resources if r.type.startswith("kubernetes:")]
    assert k8s_objects
    assert provider.parent.endswith("pulumi:pulumi:Stack::team-fraud-prod")
    assert {r.provider for r in k8s_objects} == {f"existing-cluster-{_short_hash(provider.type, provider.name)[:8]}"}
    ingress = by_name[("kubernetes:networking.k8s.io/v1:Ingress", "fraud-ingress")]
    assert (
        "access_logs.s3.bucket=acme-alb-logs"
        in ingress.inputs["metadata"]["annotations"]["alb.ingress.kubernetes.io/load-balancer-attributes"]
    )
    attributes = ingress.inputs["metadata"]["annotations"]["alb.ingress.kubernetes.io/load-balancer-attributes"]
    assert "deletion_protection.enabled=true" in attributes  # production=True in the example
    assert ingress.inputs["spec"]["rules"][0]["host"] == "fraud.ml.acme.example"


def test_one_service_on_existing_ecs_infrastructure(monkeypatch: Any) -> None:
    """Plain dataclasses stand in for mlinfra's cluster, load balancer and monitoring."""
    resources = _run_example(monkeypatch, ECS_EXAMPLE)
    types = {r.type for r in resources}
    assert "mlinfra:index:EcsModelService" in types
    assert not {t for t in types if t.startswith(("aws:ecs/cluster:", "aws:lb/loadBalancer:", "aws:amp/workspace:"))}
    by_name = {(r.type, r.name): r for r in resources}
    service = by_name[("aws:ecs/service:Service", "fraud-service")]
    assert service.inputs["cluster"] == PLATFORM_OUTPUTS["cluster_arn"]
    assert service.inputs["networkConfiguration"]["subnets"] == [
        PLATFORM_OUTPUTS["private_subnet_a"],
        PLATFORM_OUTPUTS["private_subnet_b"],
    ]
    rule = by_name[("aws:lb/listenerRule:ListenerRule", "fraud-rule")]
    assert rule.inputs["listenerArn"] == PLATFORM_OUTPUTS["https_listener_arn"]
    assert rule.inputs["conditions"][0]["hostHeader"]["values"] == ["fraud.ml.acme.example"]
    sg = by_name[("aws:ec2/securityGroup:SecurityGroup", "fraud-tasks")]
    assert sg.inputs["ingress"][0]["securityGroups"] == [PLATFORM_OUTPUTS["alb_security_group_id"]]
    target = by_name[("aws:appautoscaling/target:Target", "fraud-scaling")]
    assert target.inputs["resourceId"] == "service/acme-ml/fraud"
    requests = by_name[("aws:appautoscaling/policy:Policy", "fraud-requests")]
    label = requests.inputs["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"][
        "resourceLabel"
    ]
    assert label.startswith(PLATFORM_OUTPUTS["alb_arn_suffix"] + "/")
    rules = by_name[("aws:amp/ruleGroupNamespace:RuleGroupNamespace", "fraud-rules")]
    assert rules.inputs["workspaceId"] == PLATFORM_OUTPUTS["amp_workspace_id"]
    logs = by_name[("aws:cloudwatch/logGroup:LogGroup", "fraud-logs")]
    assert logs.inputs["kmsKeyId"] == PLATFORM_OUTPUTS["logs_key_arn"]
    task = by_name[("aws:ecs/taskDefinition:TaskDefinition", "fraud-task")]
    sidecar = [c for c in json.loads(task.inputs["containerDefinitions"]) if c["name"] != "model"]
    assert sidecar
    # The collector writes to the workspace passed in.
    assert any(PLATFORM_OUTPUTS["amp_remote_write_url"] in json.dumps(c) for c in sidecar)
