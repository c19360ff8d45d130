"""The EKS platform of one stack: network, cluster, node pools, add-ons, shared keys."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from mlinfra.components.access_logs import ACCESS_LOG_RETENTION_DAYS, AccessLogsBucket
from mlinfra.components.addons import ClusterAddons, ClusterAddonsArgs
from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.components.eks_cluster import EksCluster, EksClusterArgs
from mlinfra.components.eks_monitoring import EksMonitoring, EksMonitoringArgs
from mlinfra.components.k8s_service import KubernetesModelService, KubernetesServiceArgs
from mlinfra.components.karpenter import Karpenter, KarpenterArgs
from mlinfra.components.karpenter_pools import KarpenterNodePools, NodePoolsArgs, placement
from mlinfra.components.network import Network, NetworkArgs
from mlinfra.components.platform import PlatformArgs
from mlinfra.components.vpc_endpoints import stack_endpoints
from mlinfra.spec.nodepools import pool_for
from mlinfra.spec.service import ServiceSpec


class EksPlatform(pulumi.ComponentResource):
    """Shared infrastructure every service of an EKS stack runs on."""

    network: Network
    """VPC and subnets."""
    cluster: EksCluster
    """The cluster, its node groups and Kubernetes provider."""
    addons: ClusterAddons
    """Helm releases services depend on (controller, monitoring, GPU plugin)."""
    karpenter: Karpenter
    """The node autoscaler and what it needs in AWS."""
    node_pools: KarpenterNodePools
    """The Karpenter pools services run on."""
    images_key_arn: pulumi.Output[str]
    """KMS key that encrypts every ECR repository of the stack."""
    access_logs_bucket: pulumi.Output[str]
    """Bucket the ALBs created by the load balancer controller write access logs to."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}EksPlatform", name, None, opts)
        self._args = args
        self._dns: dict[str, str] = {}
        self.network = Network(f"{name}-network", NetworkArgs(args.stack, args.settings), opts=child(self))
        stack_endpoints(f"{name}-endpoints", args.stack, args.settings, self.network, self)
        self.cluster = EksCluster(
            f"{name}-eks", EksClusterArgs(args.stack, args.settings, self.network), opts=child(self)
        )
        self.addons = ClusterAddons(
            f"{name}-addons",
            ClusterAddonsArgs(args.stack, args.settings, self.cluster, self.network.vpc_id, dict(args.secret_values)),
            opts=child(self),
        )
        self.karpenter = Karpenter(
            f"{name}-karpenter", KarpenterArgs(args.stack, args.settings.region, self.cluster), opts=child(self)
        )
        self.node_pools = KarpenterNodePools(
            f"{name}-pools",
            NodePoolsArgs(
                args.stack,
                dict(args.settings.node_pools),
                self.cluster,
                self.karpenter.node_role_name,
                self.karpenter.ready,
                args.settings.eks.ami_version,
            ),
            opts=child(self),
        )
        # At the stack root (URN `...::mlinfra:index:EksMonitoring::monitoring`), like services.
        EksMonitoring(
            "monitoring",
            EksMonitoringArgs(args.stack, args.services, self.cluster, list(self.addons.releases.values())),
        )
        key = aws.kms.Key(
            f"{name}-images-key",
            description=f"ECR image encryption ({args.stack})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags(args.stack),
            opts=child(self, protect=args.settings.production),
        )
        self.images_key_arn = key.arn
        self.access_logs_bucket = AccessLogsBucket(
            f"{name}-alb-logs",
            args.stack,
            ACCESS_LOG_RETENTION_DAYS,
            production=args.settings.production,
            opts=child(self),
        ).bucket_name
        self.register_outputs({"cluster_name": self.cluster.cluster_name})

    def add_service(self, spec: ServiceSpec, image_ref: pulumi.Input[str]) -> str:
        """A `KubernetesModelService` at the stack root, after the add-ons it relies on."""
        args = self._args
        pools = args.settings.node_pools
        pool = pool_for(dict(pools), spec.gpu_type)
        assert pool is not None, "the schedulability proof refuses a service without a pool"
        service = KubernetesModelService(
            spec.name,
            KubernetesServiceArgs(
                stack=args.stack,
                spec=spec,
                cluster=self.cluster,
                image_ref=image_ref,
                domain=args.settings.domain,
                certificate_arn=args.settings.certificate_arn,
                load_balancer_cidrs=self.network.load_balancer_cidrs,
                access_logs_bucket=self.access_logs_bucket,
                production=args.settings.production,
                secret_arns={n: args.settings.secret_arns[n] for n in spec.secrets if n in args.settings.secret_arns},
                secret_values={n: args.secret_values[n] for n in spec.secrets if n in args.secret_values},
                # The pool must exist before the Deployment waits for its pods to be Ready.
                depends_on=[*self.addons.releases.values(), *self.node_pools.resources],
                placement=placement(pool, pools[pool]),
            ),
        )
        zone = args.settings.hosted_zone_id
        self._dns[service.hostname] = (
            f"Route 53 record in {zone} by external-dns -> the service's ALB"
            if zone
            else "left to you (mlinfra:hostedZoneId is not set): point it at the service's Ingress ALB"
        )
        return f"https://{service.hostname}"

    def outputs(self) -> Mapping[str, pulumi.Input[object]]:
        return {"cluster_name": self.cluster.cluster_name, "dns": dict(sorted(self._dns.items()))}
