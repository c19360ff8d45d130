"""A team's own Pulumi program: one mlinfra model service on an EKS cluster owned elsewhere.

The cluster program exports `kubeconfig`, `oidc_provider_arn`, `oidc_issuer` (without
`https://`) and `alb_logs_bucket`; this program reads them through a
`StackReference` and needs neither mlinfra's `services/` nor its `stacks/` layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from mlinfra import ServiceSpec
from mlinfra.aws import KubernetesModelService, KubernetesServiceArgs

config = pulumi.Config()
cluster_stack = pulumi.StackReference(config.get("clusterStack") or "acme/platform/prod")


@dataclass(frozen=True)
class ExistingCluster:
    """A `ClusterRef` over another stack's outputs."""

    provider: k8s.Provider
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]


cluster = ExistingCluster(
    provider=k8s.Provider("existing-cluster", kubeconfig=cluster_stack.require_output("kubeconfig")),
    oidc_provider_arn=cluster_stack.require_output("oidc_provider_arn"),
    oidc_issuer=cluster_stack.require_output("oidc_issuer"),
)
spec = ServiceSpec(
    name="fraud", model_uri="s3://acme-models/fraud/v12/model.skops", replicas=2, request_timeout_seconds=5
)
service = KubernetesModelService(
    "fraud",
    KubernetesServiceArgs(
        stack=pulumi.get_stack(),
        spec=spec,
        cluster=cluster,
        image_ref="123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud@sha256:" + "0" * 64,
        domain="ml.acme.example",
        certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/0b5c6d2e-1f3a-4b7c-9d8e-2a4f6b8c0d1e",
        # Where the cluster's ALBs sit (its load balancer subnets; the whole VPC if they are unknown):
        # the only sources the service's NetworkPolicy admits besides Prometheus.
        load_balancer_cidrs=["10.20.0.0/16"],
        access_logs_bucket=cluster_stack.require_output("alb_logs_bucket"),
        production=True,
    ),
)
pulumi.export("endpoint", f"https://{service.hostname}")
pulumi.export("role_arn", service.role_arn)
