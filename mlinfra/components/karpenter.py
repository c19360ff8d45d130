"""Karpenter from its upstream chart: controller identity (IRSA), the node role and its EKS access
entry, the SQS interruption queue fed by EventBridge, and the CRDs as a release of their own.

The IAM policies, the node role's managed policies, the queue and the event rules follow the
getting-started CloudFormation of the pinned version (`KARPENTER_VERSION`); tests/upstream/
holds each against it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlinfra.components.addons import CHARTS
from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.components.eks_cluster import EksCluster
from mlinfra.components.iam import assume_role_policy
from mlinfra.components.irsa import irsa_trust_policy

KARPENTER_VERSION = CHARTS["karpenter"].version
KARPENTER_NAMESPACE = CHARTS["karpenter"].namespace
KARPENTER_SERVICE_ACCOUNT = "karpenter"
_POLICIES_FILE = Path(__file__).parent / "data" / f"karpenter-v{KARPENTER_VERSION}-controller-policies.json"
NODE_ROLE_POLICIES = (
    "AmazonEKS_CNI_Policy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)
# Every EventBridge source the interruption queue hears, by rule name: Karpenter drains a node
# before AWS takes it away (spot reclaim, scheduled maintenance, capacity-reservation end).
INTERRUPTION_EVENTS = {
    "scheduled-change": ("aws.health", "AWS Health Event"),
    "spot-interruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "instance-state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "capacity-reservation-interruption": ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
}
# The upstream getting-started guide sizes the controller at 1 CPU / 1Gi; half a core is
# requested here so two replicas fit beside the add-ons on a small system pool, with no CPU
# limit (no throttling when a burst of pending pods arrives). Memory: requests = limits.
CONTROLLER_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def controller_policies(substitutions: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The controller's policies with the template's `${...}` placeholders filled in."""
    text = json.dumps(json.loads(_POLICIES_FILE.read_text())["policies"], sort_keys=True)
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        raise ValueError(f"unfilled placeholder in the Karpenter controller policy: {text[text.index('${') :][:60]}")
    return dict(json.loads(text))


def interruption_queue_policy(queue_arn: str) -> dict[str, Any]:
    return {
        "Id": "EC2InterruptionPolicy",
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            },
            {
                "Sid": "DenyHTTP",
                "Effect": "Deny",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": False}},
                "Principal": "*",
            },
        ],
    }


def karpenter_values(
    settings_cluster_name: pulumi.Input[str], queue_name: pulumi.Input[str], role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    # No nodeSelector: the chart's default affinity (`karpenter.sh/nodepool` DoesNotExist) keeps
    # the controller off the nodes it launches, so it runs on the managed system nodes.
    return {
        "settings": {"clusterName": settings_cluster_name, "interruptionQueue": queue_name},
        "serviceAccount": {
            "name": KARPENTER_SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": role_arn},
        },
        "controller": {"resources": CONTROLLER_RESOURCES},
    }


@dataclass(frozen=True)
class KarpenterArgs:
    stack: str
    region: str
    cluster: EksCluster


class Karpenter(pulumi.ComponentResource):
    """The Karpenter controller and everything AWS-side it needs."""

    node_role_name: pulumi.Output[str]
    """The role Karpenter's nodes run as (EC2NodeClass `role`)."""
    ready: list[pulumi.Resource]
    """What a NodePool must wait for: the CRDs, the controller, the nodes' access entry."""

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}Karpenter", name, None, opts)
        cluster, base_tags = args.cluster, tags(args.stack)
        partition = partition_of(args.region)

        node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            tags=base_tags,
            opts=child(self),
        )
        for policy in NODE_ROLE_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}",
                role=node_role.name,
                policy_arn=f"arn:{partition}:iam::aws:policy/{policy}",
                opts=child(self),
            )
        # Nodes join through an EC2_LINUX access entry (the cluster has no aws-auth ConfigMap).
        access = aws.eks.AccessEntry(
            f"{name}-node-access",
            cluster_name=cluster.cluster_name,
            principal_arn=node_role.arn,
            type="EC2_LINUX",
            tags=base_tags,
            opts=child(self),
        )
        self.node_role_name = node_role.name

        queue = aws.sqs.Queue(
            f"{name}-interruptions",
            message_retention_seconds=300,
            sqs_managed_sse_enabled=True,
            tags=base_tags,
            opts=child(self),
        )
        aws.sqs.QueuePolicy(
            f"{name}-interruptions-policy",
            queue_url=queue.url,
            policy=queue.arn.apply(lambda arn: json.dumps(interruption_queue_policy(arn), sort_keys=True)),
            opts=child(self),
        )
        for rule_name, (source, detail_type) in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{rule_name}",
                event_pattern=json.dumps({"source": [source], "detail-type": [detail_type]}),
                tags=base_tags,
                opts=child(self),
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{rule_name}-target",
                rule=rule.name,
                arn=queue.arn,
                target_id="KarpenterInterruptionQueueTarget",
                opts=child(self),
            )

        role = aws.iam.Role(
            f"{name}-controller-role",
            assume_role_policy=irsa_trust_policy(
                cluster.oidc_provider_arn, cluster.oidc_issuer, KARPENTER_NAMESPACE, KARPENTER_SERVICE_ACCOUNT
            ),
            tags=base_tags,
            opts=child(self),
        )
        account = aws.get_caller_identity_output().account_id
        documents = pulumi.Output.all(cluster.cluster_name, account, queue.arn, node_role.arn).apply(
            lambda v: controller_policies(
                {
                    "AWS::Partition": partition,
                    "AWS::Region": args.region,
                    "AWS::AccountId": v[1],
                    "ClusterName": v[0],
                    "KarpenterInterruptionQueue.Arn": v[2],
                    "KarpenterNodeRole.Arn": v[3],
                }
            )
        )
        attachments = []
        for policy_name in json.loads(_POLICIES_FILE.read_text())["policies"]:
            controller_policy = aws.iam.Policy(
                f"{name}-{policy_name}",
                description=f"Karpenter controller {policy_name} ({args.stack}), upstream v{KARPENTER_VERSION}",
                policy=documents.apply(_document_json(policy_name)),
                tags=base_tags,
                opts=child(self),
            )
            attachments.append(
                aws.iam.RolePolicyAttachment(
                    f"{name}-{policy_name}-attachment",
                    role=role.name,
                    policy_arn=controller_policy.arn,
                    opts=child(self),
                )
            )

        k8s_opts = {"provider": cluster.provider}
        system = [cluster.system_node_group, *cluster.core_addons]
        # The CRDs as their own release: Helm installs a chart's crds/ only once and never
        # upgrades them, so a version bump would leave old schemas behind.
        crds = k8s.helm.v3.Release(
            f"{name}-karpenter-crd",
            k8s.helm.v3.ReleaseArgs(
                name="karpenter-crd",
                chart=f"{CHARTS['karpenter-crd'].repo}/karpenter-crd",
                version=CHARTS["karpenter-crd"].version,
                namespace=KARPENTER_NAMESPACE,
                atomic=True,
                cleanup_on_fail=True,
                timeout=600,
            ),
            opts=child(self, depends_on=system, **k8s_opts),
        )
        controller = k8s.helm.v3.Release(
            f"{name}-karpenter",
            k8s.helm.v3.ReleaseArgs(
                name="karpenter",
                chart=f"{CHARTS['karpenter'].repo}/karpenter",
                version=CHARTS["karpenter"].version,
                namespace=KARPENTER_NAMESPACE,
                skip_crds=True,
                values=karpenter_values(cluster.cluster_name, queue.name, role.arn),
                atomic=True,
                cleanup_on_fail=True,
                timeout=900,
            ),
            opts=child(self, depends_on=[crds, *attachments, *system], **k8s_opts),
        )
        self.ready = [crds, controller, access]
        self.register_outputs({"node_role_name": self.node_role_name})


def _document_json(policy_name: str) -> Callable[[dict[str, Any]], str]:
    """One upstream policy document out of the rendered set, as IAM wants it."""
    return lambda documents: json.dumps(documents[policy_name], sort_keys=True)
