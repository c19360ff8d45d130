"""The cluster's core add-ons as EKS managed add-ons (table: mlinfra.spec.eks_versions).

The self-managed copies EKS bootstraps are never upgraded and run the VPC CNI without its
network-policy agent; as managed add-ons they follow the cluster version and carry config.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import child, tags
from mlinfra.components.irsa import irsa_trust_policy
from mlinfra.spec.eks_versions import ADDON_VERSIONS, MANAGED_ADDONS, ManagedAddon
from mlinfra.spec.stack import StackSettings

EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"


def addon_version(addon: str, settings: StackSettings) -> str:
    """The stack's pin, else the table's build for the cluster's version (the loader refuses a
    version with neither)."""
    return settings.eks.addon_versions.get(addon) or ADDON_VERSIONS[settings.eks.version][addon]


def managed_addons(
    name: str,
    parent: pulumi.Resource,
    cluster: aws.eks.Cluster,
    stack: str,
    settings: StackSettings,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
) -> tuple[list[aws.eks.Addon], Callable[[aws.eks.NodeGroup], list[aws.eks.Addon]]]:
    """The add-ons nodes need from boot, and a function creating the rest once the system
    node group exists (never waiting on GPU pools, whose capacity may be short)."""
    ebs_role = aws.iam.Role(
        f"{name}-ebs-csi-role",
        assume_role_policy=irsa_trust_policy(oidc_provider_arn, oidc_issuer, "kube-system", EBS_CSI_SERVICE_ACCOUNT),
        tags=tags(stack),
        opts=child(parent),
    )
    ebs_policy = aws.iam.RolePolicyAttachment(
        f"{name}-ebs-csi-policy", role=ebs_role.name, policy_arn=EBS_CSI_POLICY, opts=child(parent)
    )
    roles = {"aws-ebs-csi-driver": ebs_role.arn}

    def addon(spec: ManagedAddon, depends: list[pulumi.Resource]) -> aws.eks.Addon:
        return aws.eks.Addon(
            f"{name}-{spec.name}",
            cluster_name=cluster.name,
            addon_name=spec.name,
            addon_version=addon_version(spec.name, settings),
            configuration_values=json.dumps(spec.configuration, sort_keys=True) if spec.configuration else None,
            service_account_role_arn=roles.get(spec.name),
            # Adopt the self-managed copy EKS bootstrapped; afterwards Pulumi owns the config.
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags(stack),
            opts=child(parent, depends_on=depends),
        )

    before = [addon(a, []) for a in MANAGED_ADDONS.values() if a.before_nodes]

    def after(system_nodes: aws.eks.NodeGroup) -> list[aws.eks.Addon]:
        return [addon(a, [system_nodes, ebs_policy]) for a in MANAGED_ADDONS.values() if not a.before_nodes]

    return before, after
