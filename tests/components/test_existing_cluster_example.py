"""`examples/existing-cluster/`: one model service added to a cluster another program owns,
run under Pulumi's mocks; the recorded resources are those of a hardened service on that
cluster (its provider, its OIDC provider), and nothing of mlinfra's platform."""

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

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "existing-cluster"
OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123"
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/ABC123"


class ClusterStackMocks(RecordingMocks):
    """The recording mocks, plus the outputs of the (fake) cluster program's stack."""

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            return args.name, {
                "name": args.name,
                "outputs": {
                    "kubeconfig": "apiVersion: v1\nkind: Config\n",
                    "oidc_provider_arn": OIDC_ARN,
                    "oidc_issuer": ISSUER,
                    "alb_logs_bucket": "acme-alb-logs",
                },
                "secretOutputNames": [],
            }
        return super().new_resource(args)


def _run_example(monkeypatch: Any) -> list[Any]:
    recording = ClusterStackMocks("us-east-1")
    monitor = RecordingMonitor(recording)
    pulumi_settings.reset_options(project="team-fraud", stack="prod")
    pulumi.runtime.set_mocks(recording, project="team-fraud", stack="prod", preview=False, monitor=monitor)
    monkeypatch.chdir(EXAMPLE)
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(EXAMPLE / "__main__.py"), run_name="__main__")))
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
