"""Monitoring objects of an EKS stack beyond the chart: Grafana dashboards as ConfigMaps,
which the chart's Grafana sidecar loads from every namespace by label."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.components.addons import MONITORING_NAMESPACE
from mlinfra.components.base import TOKEN_PREFIX, child
from mlinfra.components.eks_cluster import EksCluster
from mlinfra.monitoring.dashboards import DASHBOARD_LABEL, dashboard_json, stack_dashboards
from mlinfra.spec.service import ServiceSpec


@dataclass(frozen=True)
class EksMonitoringArgs:
    stack: str
    services: tuple[ServiceSpec, ...]
    cluster: EksCluster
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class EksMonitoring(pulumi.ComponentResource):
    """One dashboard ConfigMap per service plus the platform's, in the monitoring namespace."""

    def __init__(self, name: str, args: EksMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}EksMonitoring", name, None, opts)
        boards = stack_dashboards(args.stack, list(args.services), platform="eks")
        for file_name, board in boards.items():
            stem = file_name.removesuffix(".json")
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{stem}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"mlinfra-dashboard-{stem}",
                    namespace=MONITORING_NAMESPACE,
                    labels={DASHBOARD_LABEL[0]: DASHBOARD_LABEL[1], "app.kubernetes.io/part-of": "mlinfra"},
                ),
                data={file_name: dashboard_json(board)},
                opts=child(self, provider=args.cluster.provider, depends_on=args.depends_on),
            )
        self.register_outputs({})
