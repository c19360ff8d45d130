"""Cluster add-ons from their upstream Helm charts, versions pinned."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.components.eks_cluster import GPU_TAINT_KEY, EksCluster
from mlinfra.components.irsa import irsa_trust_policy
from mlinfra.monitoring.eks import deep_merge, kube_prometheus_stack_values, receiver_secret
from mlinfra.spec.stack import StackSettings


@dataclass(frozen=True)
class Chart:
    chart: str
    version: str
    repo: str
    namespace: str


CHARTS = {
    "nvidia-device-plugin": Chart("nvidia-device-plugin", "0.17.1",
                                  "https://nvidia.github.io/k8s-device-plugin", "kube-system"),
    "dcgm-exporter": Chart("dcgm-exporter", "4.1.1",
                           "https://nvidia.github.io/dcgm-exporter/helm-charts", "monitoring"),
    "aws-load-balancer-controller": Chart("aws-load-balancer-controller", "1.13.3",
                                          "https://aws.github.io/eks-charts", "kube-system"),
    "metrics-server": Chart("metrics-server", "3.12.2",
                            "https://kubernetes-sigs.github.io/metrics-server/", "kube-system"),
    "kube-prometheus-stack": Chart("kube-prometheus-stack", "75.15.1",
                                   "https://prometheus-community.github.io/helm-charts",
                                   "monitoring"),
}
MONITORING_NAMESPACE = "monitoring"
LBC_SERVICE_ACCOUNT = "aws-load-balancer-controller"

# What the AWS Load Balancer Controller calls, from its documented IAM policy, condensed.
# Describe/Get calls cannot be scoped by resource in IAM; mutations are limited to
# resources the controller tagged itself (elbv2.k8s.aws/cluster).
_LBC_READ = [
    "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
    "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:DescribeCoipPools",
    "ec2:GetCoipPoolUsage", "ec2:DescribeIpamPools", "ec2:DescribeRouteTables",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTrustStores", "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeCapacityReservation",
    # No cognito-idp:DescribeUserPoolClient: it returns the client secret (parliament:
    # CREDENTIALS_EXPOSURE) and is only needed for Cognito ALB auth, which mlinfra does not emit.
    "acm:ListCertificates", "acm:DescribeCertificate",
    "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "shield:GetSubscriptionState",
]
_LBC_CREATE = [
    "ec2:CreateSecurityGroup", "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:CreateRule", "ec2:CreateTags", "elasticloadbalancing:AddTags",
]
_LBC_MANAGE_OWN = [
    "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
    "ec2:DeleteSecurityGroup", "ec2:DeleteTags",
    "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
    "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
    "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:ModifyListener", "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:ModifyRule", "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:AddListenerCertificates",
    "elasticloadbalancing:RemoveListenerCertificates", "elasticloadbalancing:RemoveTags",
    "elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:SetWebAcl",
    "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
]


def load_balancer_controller_policy() -> dict[str, object]:
    owned = {"Null": {"aws:ResourceTag/elbv2.k8s.aws/cluster": "false"}}
    requested = {"Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"}}
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Describe", "Effect": "Allow", "Action": sorted(_LBC_READ), "Resource": "*"},
        {"Sid": "CreateTagged", "Effect": "Allow", "Action": sorted(_LBC_CREATE),
         "Resource": "*", "Condition": requested},
        {"Sid": "ManageOwned", "Effect": "Allow", "Action": sorted(_LBC_MANAGE_OWN),
         "Resource": "*", "Condition": owned},
        {"Sid": "ServiceLinkedRole", "Effect": "Allow", "Action": ["iam:CreateServiceLinkedRole"],
         "Resource": "*", "Condition": {"StringEquals": {
             "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}},
    ]}


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
    metrics-server and kube-prometheus-stack."""

    releases: dict[str, k8s.helm.v3.Release]
    """Every Helm release by chart name, so services can depend on them."""

    def __init__(self, name: str, args: ClusterAddonsArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}ClusterAddons", name, None, opts)
        cluster = args.cluster
        k8s_opts = {"provider": cluster.provider}
        monitoring_ns = k8s.core.v1.Namespace(
            f"{name}-monitoring-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=MONITORING_NAMESPACE, labels={
                "pod-security.kubernetes.io/enforce": "privileged"}),
            opts=child(self, **k8s_opts))
        alert_receivers = receiver_secret(f"{name}-alert-receivers", args.settings, args.secret_values,
                                          MONITORING_NAMESPACE,
                                          child(self, depends_on=[monitoring_ns], **k8s_opts))
        lbc_role = aws.iam.Role(
            f"{name}-lbc-role",
            assume_role_policy=irsa_trust_policy(cluster.oidc_provider_arn, cluster.oidc_issuer,
                                                 "kube-system", LBC_SERVICE_ACCOUNT),
            tags=tags(args.stack), opts=child(self))
        aws.iam.RolePolicy(f"{name}-lbc-policy", role=lbc_role.id,
                           policy=json.dumps(load_balancer_controller_policy(), sort_keys=True),
                           opts=child(self))

        gpu = bool(args.settings.gpu_node_groups)
        gpu_toleration = [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
        values: dict[str, dict[str, object]] = {
            "aws-load-balancer-controller": {
                "clusterName": cluster.cluster_name,
                "region": args.settings.region,
                "vpcId": args.vpc_id,
                "replicaCount": 2,
                "serviceAccount": {"create": True, "name": LBC_SERVICE_ACCOUNT,
                                   "annotations": {"eks.amazonaws.com/role-arn": lbc_role.arn}},
            },
            "metrics-server": {"replicas": 2},
            "kube-prometheus-stack": deep_merge({
                "prometheus": {"prometheusSpec": {
                    # Select ServiceMonitors and rules from every namespace, not only the
                    # chart's own release label.
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "retention": "15d",
                    "replicas": 2 if args.settings.production else 1,
                }},
                "alertmanager": {"alertmanagerSpec": {
                    "replicas": 2 if args.settings.production else 1}},
                # Unset admin password: the chart generates one into a Kubernetes Secret.
                "grafana": {"enabled": True},
            }, kube_prometheus_stack_values(args.settings)),
        }
        if gpu:
            values["nvidia-device-plugin"] = {
                "tolerations": gpu_toleration,
                "nodeSelector": {"nvidia.com/gpu.present": "true"},
            }
            values["dcgm-exporter"] = {
                "tolerations": gpu_toleration,
                "nodeSelector": {"nvidia.com/gpu.present": "true"},
                "serviceMonitor": {"enabled": True},
            }
        self.releases = {}
        for chart_name in sorted(values):
            chart = CHARTS[chart_name]
            depends: list[pulumi.Resource] = [*cluster.node_groups]
            if chart.namespace == MONITORING_NAMESPACE:
                depends.append(monitoring_ns)
            if chart_name == "kube-prometheus-stack" and alert_receivers is not None:
                depends.append(alert_receivers)
            if chart_name == "dcgm-exporter" and "kube-prometheus-stack" in self.releases:
                depends.append(self.releases["kube-prometheus-stack"])
            self.releases[chart_name] = k8s.helm.v3.Release(
                f"{name}-{chart_name}",
                k8s.helm.v3.ReleaseArgs(
                    name=chart_name, chart=chart.chart, version=chart.version,
                    namespace=chart.namespace,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
                    values=values[chart_name], atomic=True, cleanup_on_fail=True,
                    timeout=900,
                ),
                opts=child(self, provider=cluster.provider, depends_on=depends),
            )
        self.register_outputs({})
