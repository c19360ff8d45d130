"""The component surface: mlinfra's Pulumi components, for use in your own Pulumi program.

`mlinfra plan` / `pulumi up` with mlinfra's `__main__.py` build all of these from
`services/*.py` and the stack file. A program of your own can compose them directly, e.g. one
`KubernetesModelService` on a cluster created elsewhere (anything satisfying `ClusterRef`).
Logical names and the `mlinfra:index:*` type tokens are stable: renaming one replaces
resources.
"""

from __future__ import annotations

from mlinfra.components.access_logs import AccessLogsBucket
from mlinfra.components.ecs_alb import LoadBalancerArgs, SharedLoadBalancer
from mlinfra.components.ecs_cluster import EcsCluster, EcsClusterArgs
from mlinfra.components.ecs_monitoring import EcsMonitoring, EcsMonitoringArgs
from mlinfra.components.ecs_platform import EcsPlatform
from mlinfra.components.ecs_service import (
    EcsClusterRef,
    EcsModelService,
    EcsServiceArgs,
    LoadBalancerRef,
    MonitoringRef,
)
from mlinfra.components.eks_cluster import EksCluster, EksClusterArgs
from mlinfra.components.eks_platform import EksPlatform
from mlinfra.components.image import ServiceImage, ServiceImageArgs
from mlinfra.components.k8s_service import ClusterRef, KubernetesModelService, KubernetesServiceArgs
from mlinfra.components.network import Network, NetworkArgs
from mlinfra.components.platform import Platform, PlatformArgs

__all__ = [
    "AccessLogsBucket",
    "ClusterRef",
    "EcsCluster",
    "EcsClusterArgs",
    "EcsClusterRef",
    "EcsModelService",
    "EcsMonitoring",
    "EcsMonitoringArgs",
    "EcsPlatform",
    "EcsServiceArgs",
    "EksCluster",
    "EksClusterArgs",
    "EksPlatform",
    "KubernetesModelService",
    "KubernetesServiceArgs",
    "LoadBalancerArgs",
    "LoadBalancerRef",
    "MonitoringRef",
    "Network",
    "NetworkArgs",
    "Platform",
    "PlatformArgs",
    "ServiceImage",
    "ServiceImageArgs",
    "SharedLoadBalancer",
]
