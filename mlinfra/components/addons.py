"""Cluster add-ons from their upstream Helm charts, versions pinned, installed in an explicit
order (`RELEASE_DEPENDENCIES`), each chart's values built by its own function."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.components.eks_alerts import AlertTopics
from mlinfra.components.eks_cluster import GPU_TAINT_KEY, EksCluster
from mlinfra.components.eks_dns import external_dns_role, external_dns_values
from mlinfra.components.eks_logs import PodLogs, fluent_bit_values
from mlinfra.components.irsa import irsa_trust_policy
from mlinfra.components.policies import load_balancer_controller_policy
from mlinfra.monitoring import eks as monitoring
from mlinfra.spec.stack import StackSettings


@dataclass(frozen=True)
class Chart:
    chart: str
    version: str
    repo: str
    namespace: str


PROMETHEUS_COMMUNITY = "https://prometheus-community.github.io/helm-charts"
KARPENTER_REGISTRY = "oci://public.ecr.aws/karpenter"
CHARTS = {
    "nvidia-device-plugin": Chart(
        "nvidia-device-plugin", "0.17.1", "https://nvidia.github.io/k8s-device-plugin", "kube-system"
    ),
    "dcgm-exporter": Chart(
        "dcgm-exporter", "4.1.1", "https://nvidia.github.io/dcgm-exporter/helm-charts", "monitoring"
    ),
    "aws-load-balancer-controller": Chart(
        "aws-load-balancer-controller", "1.13.3", "https://aws.github.io/eks-charts", "kube-system"
    ),
    "metrics-server": Chart(
        "metrics-server", "3.12.2", "https://kubernetes-sigs.github.io/metrics-server/", "kube-system"
    ),
    "kube-prometheus-stack": Chart("kube-prometheus-stack", "75.15.1", PROMETHEUS_COMMUNITY, "monitoring"),
    # Route 53 records for the services' names (only with mlinfra:hostedZoneId).
    "external-dns": Chart("external-dns", "1.21.1", "https://kubernetes-sigs.github.io/external-dns/", "kube-system"),
    # Pod logs to CloudWatch Logs.
    "aws-for-fluent-bit": Chart("aws-for-fluent-bit", "0.2.0", "https://aws.github.io/eks-charts", "kube-system"),
    # The prometheus-operator CRDs of the operator version kube-prometheus-stack 75.15.1 runs
    # (appVersion v0.83.0 both): a release of their own, because Helm never upgrades a chart's
    # crds/ directory and nothing may render a ServiceMonitor before the CRD exists.
    "prometheus-operator-crds": Chart("prometheus-operator-crds", "21.0.0", PROMETHEUS_COMMUNITY, "monitoring"),
    # Argo Rollouts v1.9.0: canary releases of the services (mlinfra.components.k8s_rollout).
    "argo-rollouts": Chart("argo-rollouts", "2.41.0", "https://argoproj.github.io/argo-helm", "kube-system"),
    # Karpenter (components/karpenter.py) and its CRDs, one version: published to an OCI registry.
    "karpenter": Chart("karpenter", "1.14.1", KARPENTER_REGISTRY, "kube-system"),
    "karpenter-crd": Chart("karpenter-crd", "1.14.1", KARPENTER_REGISTRY, "kube-system"),
    # Pod autoscaling (components/k8s_scaling.py). Its CRDs are chart templates, so Helm
    # upgrades them with the chart.
    "keda": Chart("keda", "2.20.2", "https://kedacore.github.io/charts", "keda"),
}
# What each release waits for besides the cluster's system nodes and core add-ons. Charts that
# render ServiceMonitors or PrometheusRules wait for the CRDs; nothing waits for the load
# balancer controller's webhook, because its Service webhook is off (mlinfra renders no
# `type: LoadBalancer` Service) and its pod webhook only selects the services' namespaces.
RELEASE_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "prometheus-operator-crds": (),
    "aws-load-balancer-controller": (),
    "metrics-server": (),
    "kube-prometheus-stack": ("prometheus-operator-crds",),
    "nvidia-device-plugin": (),
    "dcgm-exporter": ("prometheus-operator-crds",),
    "external-dns": (),
    "aws-for-fluent-bit": (),
    # Its controller's ServiceMonitor needs the CRD; services' Rollouts need its CRDs.
    "argo-rollouts": ("prometheus-operator-crds",),
    # KEDA queries Prometheus only once a ScaledObject exists, and services wait for every release.
    "keda": (),
}
MONITORING_NAMESPACE = "monitoring"
KEDA_NAMESPACE = "keda"
# kube-prometheus-stack names its Prometheus Service `<fullname>-prometheus`, where fullname is
# the release name when that contains the chart name (truncated to 26 characters), on
# `prometheus.service.port` (9090 by default). KEDA's Prometheus triggers query it.
PROMETHEUS_ADDRESS = f"http://kube-prometheus-stack-prometheus.{MONITORING_NAMESPACE}.svc.cluster.local:9090"
LBC_SERVICE_ACCOUNT = "aws-load-balancer-controller"

# Traffic routers Argo Rollouts' chart grants RBAC for by default; mlinfra routes with the ALB only.
ARGO_TRAFFIC_PROVIDERS = (
    "istio",
    "smi",
    "ambassador",
    "awsLoadBalancerController",
    "awsAppMesh",
    "traefik",
    "apisix",
    "contour",
    "glooPlatform",
    "gatewayAPI",
)

GRAFANA_ADMIN_SECRET = "grafana-admin"
PROMETHEUS_STORAGE_CLASS = "gp3"
# Prometheus TSDB on its own gp3 volume; retention by size below the volume so the TSDB never
# fills it, and by time so old series age out on a quiet cluster.
PROMETHEUS_VOLUME_GIB = 50
PROMETHEUS_RETENTION = "15d"
PROMETHEUS_RETENTION_SIZE = "40GB"  # Prometheus size units are powers of 2
GPU_TOLERATION = [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
GPU_NODES = {"nvidia.com/gpu.present": "true"}


def load_balancer_controller_values(
    settings: StackSettings, cluster_name: pulumi.Input[str], vpc_id: pulumi.Input[str], role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    return {
        "clusterName": cluster_name,
        "region": settings.region,
        "vpcId": vpc_id,
        "replicaCount": 2,
        "serviceAccount": {
            "create": True,
            "name": LBC_SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": role_arn},
        },
        # The Service webhook (failurePolicy Fail, on every Service) only makes the controller
        # the default for `type: LoadBalancer`, which mlinfra never renders; on a fresh cluster
        # it rejects other charts' Services until the controller is Ready.
        "enableServiceMutatorWebhook": False,
    }


def metrics_server_values() -> dict[str, Any]:
    return {"replicas": 2}


def prometheus_operator_crds_values() -> dict[str, Any]:
    return {}


def kube_prometheus_stack_values(settings: StackSettings) -> dict[str, Any]:
    replicas = 2 if settings.production else 1
    return {
        "crds": {"enabled": False},  # the prometheus-operator-crds release owns them
        # EKS runs the control plane: these targets do not exist, their *Down alerts would
        # fire forever. kube-proxy's metrics listen on 127.0.0.1 only.
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "prometheus": {
            "prometheusSpec": {
                # Select ServiceMonitors and rules from every namespace, not only the chart's own
                # release label.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "retention": PROMETHEUS_RETENTION,
                "retentionSize": PROMETHEUS_RETENTION_SIZE,
                "replicas": replicas,
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "storageClassName": PROMETHEUS_STORAGE_CLASS,
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": f"{PROMETHEUS_VOLUME_GIB}Gi"}},
                        }
                    }
                },
            }
        },
        "alertmanager": {"alertmanagerSpec": {"replicas": replicas}},
        # The chart's default is admin/prom-operator; the password is generated by Pulumi into
        # the grafana-admin Secret instead.
        "grafana": {
            "enabled": True,
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        },
    }


def argo_rollouts_values(production: bool) -> dict[str, Any]:
    return {
        # The CRDs are chart templates here (not crds/), so Helm upgrades them with the chart.
        "installCRDs": True,
        "keepCRDs": True,
        "controller": {
            # Leader election: the second replica takes over within seconds, mid-release.
            "replicas": 2 if production else 1,
            "metrics": {"enabled": True, "serviceMonitor": {"enabled": True}},
        },
        "dashboard": {"enabled": False},
        # Ingress patching is in the chart's base rules; the ALB provider adds endpoints and
        # TargetGroupBinding reads. Every other router's rules stay off.
        "providerRBAC": {
            "enabled": True,
            "providers": {p: p == "awsLoadBalancerController" for p in ARGO_TRAFFIC_PROVIDERS},
        },
    }


def keda_values() -> dict[str, Any]:
    # The chart's defaults: operator, metrics API server and admission webhooks, one replica
    # each (KEDA runs one active operator; the HPAs it owns keep scaling while it restarts).
    return {}


def nvidia_device_plugin_values() -> dict[str, Any]:
    return {"tolerations": GPU_TOLERATION, "nodeSelector": GPU_NODES}


def dcgm_exporter_values() -> dict[str, Any]:
    return {
        "tolerations": GPU_TOLERATION,
        "nodeSelector": GPU_NODES,
        # dcgm-exporter labels each GPU series with the namespace/pod using the GPU; without
        # honorLabels Prometheus renames that to exported_namespace and keeps the exporter's own.
        "serviceMonitor": {"enabled": True, "honorLabels": True},
    }


@dataclass(frozen=True)
class ClusterAddonsArgs:
    stack: str
    settings: StackSettings
    cluster: EksCluster
    vpc_id: pulumi.Input[str]
    secret_values: dict[str, str] = field(default_factory=dict, repr=False)
    """`mlinfra:secrets` values (alert receivers' credentials among them)."""


class ClusterAddons(pulumi.ComponentResource):
    """NVIDIA device plugin and DCGM exporter (GPU stacks), load balancer controller,
    metrics-server, prometheus-operator CRDs, kube-prometheus-stack (Alertmanager with its SNS
    topics), KEDA, Fluent Bit with the pod log group, external-dns (with a hosted zone)."""

    releases: dict[str, k8s.helm.v3.Release]
    """Every Helm release by chart name, so services can depend on them."""

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}ClusterAddons", name, None, opts)
        cluster = args.cluster
        k8s_opts = {"provider": cluster.provider}
        monitoring_ns = k8s.core.v1.Namespace(
            f"{name}-monitoring-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=MONITORING_NAMESPACE, labels={"pod-security.kubernetes.io/enforce": "privileged"}
            ),
            opts=child(self, **k8s_opts),
        )
        alert_receivers = monitoring.receiver_secret(
            f"{name}-alert-receivers",
            args.settings,
            args.secret_values,
            MONITORING_NAMESPACE,
            child(self, depends_on=[monitoring_ns], **k8s_opts),
        )
        lbc_role = aws.iam.Role(
            f"{name}-lbc-role",
            assume_role_policy=irsa_trust_policy(
                cluster.oidc_provider_arn, cluster.oidc_issuer, "kube-system", LBC_SERVICE_ACCOUNT
            ),
            tags=tags(args.stack),
            opts=child(self),
        )
        aws.iam.RolePolicy(
            f"{name}-lbc-policy",
            role=lbc_role.id,
            policy=json.dumps(load_balancer_controller_policy(), sort_keys=True),
            opts=child(self),
        )
        oidc = (cluster.oidc_provider_arn, cluster.oidc_issuer)
        pod_logs = PodLogs(name, self, args.stack, args.settings, *oidc)
        alert_topics = AlertTopics(
            name, self, args.stack, args.settings, args.secret_values, pod_logs.key, oidc, MONITORING_NAMESPACE
        )
        grafana_admin = self._grafana_admin_secret(name, monitoring_ns, cluster)
        storage_class = k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=PROMETHEUS_STORAGE_CLASS),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true"},
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            # Prod keeps a Prometheus volume whose claim is deleted; other tiers clean up.
            reclaim_policy="Retain" if args.settings.production else "Delete",
            opts=child(self, provider=cluster.provider, depends_on=cluster.core_addons),
        )

        builders: dict[str, Callable[[], dict[str, Any]]] = {
            "prometheus-operator-crds": prometheus_operator_crds_values,
            "aws-load-balancer-controller": lambda: load_balancer_controller_values(
                args.settings, cluster.cluster_name, args.vpc_id, lbc_role.arn
            ),
            "metrics-server": metrics_server_values,
            "argo-rollouts": lambda: argo_rollouts_values(args.settings.production),
            "keda": keda_values,
            # Routing, receivers and dashboards (mlinfra.monitoring) over the platform values.
            "kube-prometheus-stack": lambda: monitoring.deep_merge(
                kube_prometheus_stack_values(args.settings),
                monitoring.kube_prometheus_stack_values(args.settings, alert_topics.topic_arns, alert_topics.role_arn),
            ),
            "aws-for-fluent-bit": lambda: fluent_bit_values(args.settings, pod_logs.log_group_name, pod_logs.role_arn),
        }
        if args.settings.hosted_zone_id:
            dns_role = external_dns_role(name, self, args.stack, args.settings, *oidc)
            builders["external-dns"] = lambda: external_dns_values(args.settings, cluster.cluster_name, dns_role.arn)
        if args.settings.gpu_capacity():
            builders["nvidia-device-plugin"] = nvidia_device_plugin_values
            builders["dcgm-exporter"] = dcgm_exporter_values
        keda_ns = k8s.core.v1.Namespace(
            f"{name}-keda-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=KEDA_NAMESPACE),
            opts=child(self, **k8s_opts),
        )
        extra_deps: dict[str, list[pulumi.Resource]] = {
            "keda": [keda_ns],
            "kube-prometheus-stack": [
                grafana_admin,
                storage_class,
                *([alert_receivers] if alert_receivers is not None else []),
            ],
        }
        # Add-ons need the system pool and the core add-ons (DNS, CNI), not the GPU pools: a GPU
        # capacity shortage must not hold back the load balancer controller or monitoring.
        self.releases = {}
        for chart_name in release_order(builders):
            chart = CHARTS[chart_name]
            depends: list[pulumi.Resource] = [
                cluster.system_node_group,
                *cluster.core_addons,
                *extra_deps.get(chart_name, []),
            ]
            depends += [self.releases[d] for d in RELEASE_DEPENDENCIES[chart_name]]
            if chart.namespace == MONITORING_NAMESPACE:
                depends.append(monitoring_ns)
            self.releases[chart_name] = k8s.helm.v3.Release(
                f"{name}-{chart_name}",
                k8s.helm.v3.ReleaseArgs(
                    name=chart_name,
                    chart=chart.chart,
                    version=chart.version,
                    namespace=chart.namespace,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
                    values=builders[chart_name](),
                    atomic=True,
                    cleanup_on_fail=True,
                    timeout=900,
                ),
                opts=child(self, provider=cluster.provider, depends_on=depends),
            )
        self.register_outputs({})

    def _grafana_admin_secret(
        self, name: str, namespace: k8s.core.v1.Namespace, cluster: EksCluster
    ) -> k8s.core.v1.Secret:
        password = random.RandomPassword(f"{name}-grafana-admin-password", length=32, special=False, opts=child(self))
        return k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_ADMIN_SECRET, namespace=MONITORING_NAMESPACE),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": password.result},
            opts=child(self, provider=cluster.provider, depends_on=[namespace]),
        )


def release_order(charts: dict[str, Any]) -> list[str]:
    """The charts to install, every one after the releases it depends on."""
    ordered: list[str] = []

    def visit(chart: str) -> None:
        if chart in ordered:
            return
        for dep in RELEASE_DEPENDENCIES[chart]:
            visit(dep)
        ordered.append(chart)

    for chart in sorted(charts):
        visit(chart)
    return ordered
