"""The ECS half of the Pulumi program: `mlinfra.program.deploy` calls `deploy_ecs` for ECS stacks."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

from mlinfra.components.ecs_platform import EcsPlatform, EcsPlatformArgs
from mlinfra.components.ecs_service import EcsModelService, EcsServiceArgs
from mlinfra.components.image import ServiceImage, ServiceImageArgs
from mlinfra.spec.loader import Deployment


def deploy_ecs(deployment: Deployment, build_dir: Path) -> None:
    """Declare the stack's ECS platform and one `EcsModelService` per declared service."""
    stack, settings = deployment.stack, deployment.settings
    platform = EcsPlatform("platform", EcsPlatformArgs(stack, settings, deployment.services,
                                                       deployment.secret_values))
    endpoints: dict[str, str] = {}
    records: dict[str, str] = {}  # hostname -> exposure whose ALB answers it
    for spec in deployment.services:
        image = ServiceImage(spec.name, ServiceImageArgs(stack, spec, build_dir,
                                                         platform.images_key_arn, settings.production))
        service = EcsModelService(spec.name, EcsServiceArgs(
            stack=stack, settings=settings, spec=spec, cluster=platform.cluster,
            load_balancer=platform.load_balancers["public" if spec.public else "internal"],
            monitoring=platform.monitoring, vpc_id=platform.network.vpc_id,
            private_subnet_ids=platform.network.private_subnet_ids, image_ref=image.image_ref,
            secret_arns={n: platform.secret_arns[n] for n in spec.secrets if n in platform.secret_arns},
            secrets_key_arn=platform.secrets_key_arn,
        ))
        endpoints[spec.name] = service.url
        records.setdefault(service.hostname, "public" if spec.public else "internal")
    dns: dict[str, str] = {}
    if settings.hosted_zone_id:
        for hostname, exposure in sorted(records.items()):
            dns[hostname] = f"Route 53 alias in {settings.hosted_zone_id} -> the {exposure} load balancer"
            lb = platform.load_balancers[exposure]
            # An alias to the ALB: no TTL to manage, follows the ALB's addresses, free queries.
            aws.route53.Record(f"dns-{hostname.split('.', 1)[0] if hostname != settings.domain else 'apex'}",
                               zone_id=settings.hosted_zone_id, name=hostname, type="A",
                               aliases=[aws.route53.RecordAliasArgs(name=lb.dns_name, zone_id=lb.zone_id,
                                                                    evaluate_target_health=True)],
                               opts=pulumi.ResourceOptions(parent=platform))
    else:
        dns = {h: f"left to you (mlinfra:hostedZoneId is not set): point it at load_balancers.{e}"
               for h, e in sorted(records.items())}
    pulumi.export("cluster_name", platform.cluster.cluster_name)
    pulumi.export("endpoints", endpoints)
    pulumi.export("dns", dns)
    pulumi.export("load_balancers", {k: lb.dns_name for k, lb in sorted(platform.load_balancers.items())})
    pulumi.export("prometheus_workspace_id", platform.monitoring.workspace_id)
