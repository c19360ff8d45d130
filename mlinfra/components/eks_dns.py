"""external-dns on EKS: `<service>.<domain>` in the stack's Route 53 zone points at the service's
ALB, as the alias records do on ECS. Only with `mlinfra:hostedZoneId`; without it DNS is the
user's (the stack's `dns` output says so).

Chart values are those of the pinned chart (tests/upstream/ holds them against its values.yaml),
flags those of its appVersion's docs/flags.md, and the IAM policy the upstream tutorial's
(docs/tutorials/aws.md) narrowed to the one zone and the domain's names.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import child, tags
from mlinfra.components.irsa import irsa_trust_policy
from mlinfra.components.policies import policy_document
from mlinfra.spec.stack import StackSettings

EXTERNAL_DNS_NAMESPACE = "kube-system"
EXTERNAL_DNS_SERVICE_ACCOUNT = "external-dns"
# What external-dns writes for an ALB Ingress: alias A (and AAAA for dual-stack ALBs) plus
# its TXT ownership records.
RECORD_TYPES = ("A", "AAAA", "TXT")


def hosted_zone_arn(zone_id: str) -> str:
    return f"arn:aws:route53:::hostedzone/{zone_id}"


def external_dns_policy(zone_id: str, domain: str) -> dict[str, Any]:
    """The tutorial's actions; changes only to the stack's zone, to names under its domain
    and to the record types it writes. ListHostedZones has no resource-level scope."""
    zone = hosted_zone_arn(zone_id)
    return policy_document(
        [
            {
                "Sid": "ChangeOwnNames",
                "Effect": "Allow",
                "Action": ["route53:ChangeResourceRecordSets"],
                "Resource": [zone],
                "Condition": {
                    "ForAllValues:StringLike": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [domain, f"*.{domain}"]
                    },
                    "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": list(RECORD_TYPES)},
                },
            },
            {
                "Sid": "ReadOwnZone",
                "Effect": "Allow",
                "Action": ["route53:ListResourceRecordSets", "route53:ListTagsForResources"],
                "Resource": [zone],
            },
            {"Sid": "FindZones", "Effect": "Allow", "Action": ["route53:ListHostedZones"], "Resource": ["*"]},
        ]
    )


def external_dns_values(
    settings: StackSettings, owner_id: pulumi.Input[str], role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    """`owner_id`: the stack's cluster name (`<project>-<stack>`), so two stacks sharing a zone
    never delete each other's records (external-dns only changes records whose TXT names it)."""
    assert settings.hosted_zone_id is not None
    return {
        "provider": {"name": "aws"},
        "env": [{"name": "AWS_DEFAULT_REGION", "value": settings.region}],
        "sources": ["ingress"],
        "domainFilters": [settings.domain],
        "txtOwnerId": owner_id,
        # sync: a removed service's name is deleted too (only records this owner wrote).
        "policy": "sync",
        "registry": "txt",
        "extraArgs": {
            "zone-id-filter": [settings.hosted_zone_id],
            # The zone may be a parent of the domain (example.com for ml.example.com).
            "aws-zone-match-parent": True,
        },
        "serviceAccount": {
            "create": True,
            "name": EXTERNAL_DNS_SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": role_arn},
        },
    }


def external_dns_role(
    name: str,
    parent: pulumi.Resource,
    stack: str,
    settings: StackSettings,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
) -> aws.iam.Role:
    assert settings.hosted_zone_id is not None
    role = aws.iam.Role(
        f"{name}-external-dns-role",
        assume_role_policy=irsa_trust_policy(
            oidc_provider_arn, oidc_issuer, EXTERNAL_DNS_NAMESPACE, EXTERNAL_DNS_SERVICE_ACCOUNT
        ),
        tags=tags(stack),
        opts=child(parent),
    )
    aws.iam.RolePolicy(
        f"{name}-external-dns-policy",
        role=role.id,
        policy=json.dumps(external_dns_policy(settings.hosted_zone_id, settings.domain), sort_keys=True),
        opts=child(parent),
    )
    return role
