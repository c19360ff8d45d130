"""Who may use the cluster: EKS access entries for the stack's admins, and a kubeconfig whose
token comes from the same AWS identity the Pulumi AWS provider uses."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import child

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def principal_key(arn: str) -> str:
    """A stable logical-name part from an IAM ARN: `role-ci-deployer`, `user-alice`."""
    kind, _, path = arn.split(":", 5)[5].partition("/")
    return re.sub(r"[^a-z0-9-]+", "-", f"{kind}-{path.rsplit('/', 1)[-1]}".lower()).strip("-")


def admin_access_entries(
    name: str, parent: pulumi.Resource, cluster: aws.eks.Cluster, admins: tuple[str, ...]
) -> list[pulumi.Resource]:
    """An access entry plus cluster-admin policy association per admin principal."""
    grants: list[pulumi.Resource] = []
    for arn in sorted(admins):
        key = f"{name}-admin-{principal_key(arn)}"
        entry = aws.eks.AccessEntry(
            key, cluster_name=cluster.name, principal_arn=arn, type="STANDARD", opts=child(parent)
        )
        grants.append(
            aws.eks.AccessPolicyAssociation(
                key,
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=CLUSTER_ADMIN_POLICY,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=child(parent),
            )
        )
    return grants


def provider_identity(config: pulumi.Config | None = None) -> tuple[str | None, str | None]:
    """(profile, role ARN) the Pulumi AWS provider authenticates with, from `aws:` config.

    pulumi-aws 7 takes `aws:assumeRoles` (a chain; the last role is the one that acts), older
    stacks `aws:assumeRole`.
    """
    config = config or pulumi.Config("aws")
    roles: Any = config.get_object("assumeRoles") or []
    single: Any = config.get_object("assumeRole")
    if single:
        roles = [*roles, single]
    role = next((r.get("roleArn") for r in reversed(roles) if isinstance(r, dict) and r.get("roleArn")), None)
    return config.get("profile"), role


def kubeconfig_exec(
    cluster_name: pulumi.Input[str], region: str, config: pulumi.Config | None = None
) -> dict[str, Any]:
    """`aws eks get-token` as the provider's identity: the access entry that lets Kubernetes
    calls in is for that identity, not for whatever the shell's default credentials are."""
    profile, role = provider_identity(config)
    args: list[pulumi.Input[str]] = [
        "eks",
        "get-token",
        "--cluster-name",
        cluster_name,
        "--region",
        region,
        "--output",
        "json",
    ]
    if role:
        args += ["--role-arn", role]
    exec_: dict[str, Any] = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": args}
    if profile:
        exec_["env"] = [{"name": "AWS_PROFILE", "value": profile}]
    return exec_
