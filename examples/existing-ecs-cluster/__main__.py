"""A team's own Pulumi program: one mlinfra model service on ECS infrastructure owned elsewhere.

The platform program exports its cluster, HTTPS listener, ALB security group, VPC and
Amazon Managed Prometheus workspace; this program reads them through a `StackReference`.
The three references are plain dataclasses: `EcsModelService` needs attributes, not
mlinfra's own `EcsCluster`, `SharedLoadBalancer` or `EcsMonitoring`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from mlinfra import ServiceSpec
from mlinfra.aws import EcsModelService, EcsServiceArgs

config = pulumi.Config()
platform = pulumi.StackReference(config.get("platformStack") or "acme/ecs-platform/prod")


@dataclass(frozen=True)
class ExistingCluster:
    cluster_arn: pulumi.Input[str]
    cluster_name: str
    gpu_providers: Mapping[str, str] = field(default_factory=dict)
    capacity_providers: pulumi.Resource | None = None


@dataclass(frozen=True)
class ExistingLoadBalancer:
    https_listener_arn: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    arn_suffix: pulumi.Input[str]


@dataclass(frozen=True)
class ExistingWorkspace:
    workspace_id: pulumi.Input[str]
    workspace_arn: pulumi.Input[str]
    remote_write_url: pulumi.Input[str]
    telemetry_key_arn: pulumi.Input[str]


spec = ServiceSpec(
    name="fraud",
    model_uri="s3://acme-models/fraud/v12/model.skops",
    replicas=2,
    request_timeout_seconds=5,
    autoscaling={"min_replicas": 2, "max_replicas": 6, "target_requests_per_second": 50},
)
service = EcsModelService(
    "fraud",
    EcsServiceArgs(
        stack=pulumi.get_stack(),
        spec=spec,
        # Application Auto Scaling addresses the service by the cluster's plain name.
        cluster=ExistingCluster(cluster_arn=platform.require_output("cluster_arn"), cluster_name="acme-ml"),
        load_balancer=ExistingLoadBalancer(
            https_listener_arn=platform.require_output("https_listener_arn"),
            security_group_id=platform.require_output("alb_security_group_id"),
            arn_suffix=platform.require_output("alb_arn_suffix"),
        ),
        monitoring=ExistingWorkspace(
            workspace_id=platform.require_output("amp_workspace_id"),
            workspace_arn=platform.require_output("amp_workspace_arn"),
            remote_write_url=platform.require_output("amp_remote_write_url"),
            telemetry_key_arn=platform.require_output("logs_key_arn"),
        ),
        vpc_id=platform.require_output("vpc_id"),
        private_subnet_ids=[platform.require_output("private_subnet_a"), platform.require_output("private_subnet_b")],
        image_ref="123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud@sha256:" + "0" * 64,
        region="us-east-1",
        domain="ml.acme.example",
    ),
)
pulumi.export("endpoint", service.url)
pulumi.export("service_name", service.service_name)
