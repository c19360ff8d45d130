"""The ECS platform of one stack: network, cluster, load balancers, secrets, monitoring, keys."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from mlinfra.components.access_logs import ACCESS_LOG_RETENTION_DAYS, AccessLogsBucket
from mlinfra.components.base import TOKEN_PREFIX, child, physical_name, tags
from mlinfra.components.ecs_alb import LoadBalancerArgs, SharedLoadBalancer
from mlinfra.components.ecs_cluster import EcsCluster, EcsClusterArgs
from mlinfra.components.ecs_monitoring import EcsMonitoring, EcsMonitoringArgs
from mlinfra.components.ecs_service import EcsModelService, EcsServiceArgs
from mlinfra.components.network import Network, NetworkArgs
from mlinfra.components.platform import PlatformArgs
from mlinfra.components.vpc_endpoints import stack_endpoints
from mlinfra.spec.service import ServiceSpec
from mlinfra.spec.stack import StackSettings


def secret_recovery_window_days(settings: StackSettings) -> int:
    """Prod: 30 days to undo a deletion. Elsewhere 0 (delete at once), so destroy and a new
    `up` never meet a name that is still scheduled for deletion."""
    return 30 if settings.production else 0


def key_deletion_window_days(settings: StackSettings) -> int:
    """KMS waits 7-30 days before deleting a key; the longest in prod."""
    return 30 if settings.production else 7


class EcsPlatform(pulumi.ComponentResource):
    """Shared infrastructure every service of an ECS stack runs on."""

    network: Network
    """VPC and subnets."""
    cluster: EcsCluster
    """Cluster and capacity providers."""
    monitoring: EcsMonitoring
    """AMP workspace, alert manager, telemetry key."""
    load_balancers: dict[str, SharedLoadBalancer]
    """`internal` always; `public` only if a service is public."""
    images_key_arn: pulumi.Output[str]
    """KMS key that encrypts every ECR repository of the stack."""
    secrets_key_arn: pulumi.Output[str] | None
    """KMS key of the secrets the stack creates (None when it creates none)."""
    secret_arns: dict[str, pulumi.Input[str]]
    """Every secret a service uses, by name: created here or given as an existing ARN."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}EcsPlatform", name, None, opts)
        self._args = args
        stack, settings = args.stack, args.settings
        base_tags = tags(stack)
        self.network = Network(f"{name}-network", NetworkArgs(stack, settings), opts=child(self))
        stack_endpoints(f"{name}-endpoints", stack, settings, self.network, self)
        self.cluster = EcsCluster(
            f"{name}-ecs",
            EcsClusterArgs(stack, settings, self.network.vpc_id, self.network.private_subnet_ids),
            opts=child(self),
        )
        self.monitoring = EcsMonitoring(
            f"{name}-monitoring", EcsMonitoringArgs(stack, settings, dict(args.secret_values)), opts=child(self)
        )
        images_key = aws.kms.Key(
            f"{name}-images-key",
            description=f"ECR image encryption ({stack})",
            enable_key_rotation=True,
            deletion_window_in_days=key_deletion_window_days(settings),
            tags=base_tags,
            opts=child(self, protect=settings.production),
        )
        self.images_key_arn = images_key.arn
        self._secrets(name, args)

        logs_bucket: pulumi.Input[str]
        logs_ready: list[pulumi.Resource] = []
        if settings.ecs.alb.access_logs_bucket is not None:
            logs_bucket = settings.ecs.alb.access_logs_bucket
        else:
            bucket = AccessLogsBucket(
                f"{name}-alb-logs",
                stack,
                ACCESS_LOG_RETENTION_DAYS,
                production=settings.production,
                opts=child(self),
            )
            logs_bucket, logs_ready = bucket.bucket_name, [bucket.policy]
        self.load_balancers = {}
        exposures = ["internal"] + (["public"] if any(s.public for s in args.services) else [])
        for exposure in exposures:
            public = exposure == "public"
            public_specs = [s for s in args.services if s.public]
            # Narrow the public ALB to declared CIDRs only if every public service declares some.
            cidrs: tuple[str, ...] = ()
            if public and all(s.allowed_cidrs for s in public_specs):
                cidrs = tuple(sorted({c for s in public_specs for c in s.allowed_cidrs}))
            self.load_balancers[exposure] = SharedLoadBalancer(
                f"{name}-{exposure}",
                LoadBalancerArgs(
                    stack=stack,
                    settings=settings,
                    exposure="public" if public else "internal",
                    vpc_id=self.network.vpc_id,
                    vpc_cidr=self.network.vpc_cidr,
                    subnet_ids=self.network.public_subnet_ids if public else self.network.private_subnet_ids,
                    logs_bucket=logs_bucket,
                    logs_ready=logs_ready,
                    ingress_cidrs=cidrs,
                ),
                opts=child(self),
            )
        self._dns: dict[str, str] = {}
        self.register_outputs({"cluster_arn": self.cluster.cluster_arn, "workspace_id": self.monitoring.workspace_id})

    def add_service(self, spec: ServiceSpec, image_ref: pulumi.Input[str]) -> str:
        """An `EcsModelService` at the stack root, behind the ALB of its exposure."""
        args = self._args
        service = EcsModelService(
            spec.name,
            EcsServiceArgs(
                stack=args.stack,
                spec=spec,
                cluster=self.cluster,
                load_balancer=self.load_balancers["public" if spec.public else "internal"],
                monitoring=self.monitoring,
                vpc_id=self.network.vpc_id,
                private_subnet_ids=self.network.private_subnet_ids,
                image_ref=image_ref,
                region=args.settings.region,
                domain=args.settings.domain,
                routing=args.settings.ecs.alb.routing,
                log_retention_days=args.settings.ecs.log_retention_days,
                alb_idle_timeout_seconds=args.settings.ecs.alb.idle_timeout_seconds,
                collector_image=args.settings.ecs.collector_image,
                secret_arns={n: self.secret_arns[n] for n in spec.secrets if n in self.secret_arns},
                secrets_key_arn=self.secrets_key_arn,
                secrets_kms_key_arns=args.settings.ecs.secrets_kms_key_arns,
            ),
        )
        self._record(service.hostname, "public" if spec.public else "internal")
        return service.url

    def _record(self, hostname: str, exposure: str) -> None:
        """A Route 53 alias for the service's name (once per name), or a note that DNS is the user's."""
        settings = self._args.settings
        if hostname in self._dns:
            return  # path routing: every service shares the domain's one name
        if not settings.hosted_zone_id:
            self._dns[hostname] = (
                f"left to you (mlinfra:hostedZoneId is not set): point it at load_balancers.{exposure}"
            )
            return
        lb = self.load_balancers[exposure]
        # An alias to the ALB: no TTL to manage, follows the ALB's addresses, free queries.
        key = hostname.split(".", 1)[0] if hostname != settings.domain else "apex"
        aws.route53.Record(
            f"dns-{key}",
            zone_id=settings.hosted_zone_id,
            name=hostname,
            type="A",
            aliases=[aws.route53.RecordAliasArgs(name=lb.dns_name, zone_id=lb.zone_id, evaluate_target_health=True)],
            opts=child(self),
        )
        self._dns[hostname] = f"Route 53 alias in {settings.hosted_zone_id} -> the {exposure} load balancer"

    def outputs(self) -> Mapping[str, pulumi.Input[object]]:
        return {
            "cluster_name": self.cluster.cluster_name,
            "dns": dict(sorted(self._dns.items())),
            "load_balancers": {k: lb.dns_name for k, lb in sorted(self.load_balancers.items())},
            "prometheus_workspace_id": self.monitoring.workspace_id,
        }

    def _secrets(self, name: str, args: PlatformArgs) -> None:
        """Secrets Manager secrets for `mlinfra:secrets` values that a service uses (KMS)."""
        settings = args.settings
        used = sorted({n for s in args.services for n in s.secrets})
        self.secret_arns = {n: settings.secret_arns[n] for n in used if n in settings.secret_arns}
        to_create = [n for n in used if n not in self.secret_arns and n in settings.secrets]
        self.secrets_key_arn = None
        if not to_create:
            return
        base_tags = tags(args.stack)
        key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"mlinfra secrets ({args.stack})",
            enable_key_rotation=True,
            deletion_window_in_days=key_deletion_window_days(settings),
            tags=base_tags,
            opts=child(self, protect=settings.production),
        )
        self.secrets_key_arn = key.arn
        for secret_name in to_create:
            secret = aws.secretsmanager.Secret(
                f"{name}-secret-{secret_name}",
                name=physical_name(args.stack, secret_name, sep="/"),
                kms_key_id=key.arn,
                recovery_window_in_days=secret_recovery_window_days(settings),
                tags=base_tags,
                opts=child(self, delete_before_replace=True, protect=settings.production),
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-secret-{secret_name}",
                secret_id=secret.id,
                secret_string=pulumi.Output.secret(args.secret_values.get(secret_name, "")),
                opts=child(self),
            )
            self.secret_arns[secret_name] = secret.arn
