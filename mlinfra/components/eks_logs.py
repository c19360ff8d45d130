"""Pod logs of an EKS stack to CloudWatch Logs: the aws-for-fluent-bit chart (a DaemonSet tailing
every container's log) writing to one KMS-encrypted log group per stack, with the stack's
retention, one stream per container (`<namespace>.<pod>.<container>`; each service has its own
namespace) and the runtime's JSON lines merged into fields by the chart's Kubernetes filter.

The log group is Pulumi's, so its retention and key are set before the first line arrives and
`destroy` removes it; Fluent Bit therefore neither creates groups nor sets retention, and its
role lacks the two actions the upstream permissions list for that (tests/upstream/ holds the
role against the Fluent Bit docs' list).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import child, physical_name, tags
from mlinfra.components.irsa import irsa_trust_policy
from mlinfra.components.policies import policy_document, telemetry_key_policy
from mlinfra.spec.stack import StackSettings

FLUENT_BIT_NAMESPACE = "kube-system"
FLUENT_BIT_SERVICE_ACCOUNT = "aws-for-fluent-bit"
# The record-accessor fields the chart's Kubernetes filter adds to every record.
LOG_STREAM_TEMPLATE = "$kubernetes['namespace_name'].$kubernetes['pod_name'].$kubernetes['container_name']"
# The upstream list's actions Fluent Bit needs only to create groups or set their retention.
NOT_NEEDED = ("logs:CreateLogGroup", "logs:PutRetentionPolicy")
FLUENT_BIT_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def pod_log_group_name(stack: str) -> str:
    return "/" + physical_name(stack, "pods", sep="/")


def fluent_bit_policy(region: str, account_id: str, log_group_name: str) -> dict[str, Any]:
    """Streams and events in the stack's group only (`log-group:<name>:*` covers its streams)."""
    resource = f"arn:aws:logs:{region}:{account_id}:log-group:{log_group_name}:*"
    return policy_document(
        [{"Sid": "WriteOwnPodLogs", "Effect": "Allow", "Action": list(FLUENT_BIT_ACTIONS), "Resource": [resource]}]
    )


def fluent_bit_values(
    settings: StackSettings, log_group_name: pulumi.Input[str], role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    return {
        "cloudWatchLogs": {
            "enabled": True,
            "region": settings.region,
            "logGroupName": log_group_name,
            "logStreamPrefix": "pod-",  # the fallback for a record without Kubernetes metadata
            "logStreamTemplate": LOG_STREAM_TEMPLATE,
            "autoCreateGroup": False,
        },
        "serviceAccount": {
            "create": True,
            "name": FLUENT_BIT_SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": role_arn},
        },
        # Every node, the tainted GPU nodes too.
        "tolerations": [{"operator": "Exists"}],
    }


class PodLogs:
    """The stack's pod log group (KMS-encrypted) and Fluent Bit's IRSA role."""

    log_group_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    key: aws.kms.Key
    """The stack's telemetry key (pod logs; EKS alert topics too)."""

    def __init__(
        self,
        name: str,
        parent: pulumi.Resource,
        stack: str,
        settings: StackSettings,
        oidc_provider_arn: pulumi.Input[str],
        oidc_issuer: pulumi.Input[str],
    ):
        base_tags = tags(stack)
        account = aws.get_caller_identity_output()
        self.key = aws.kms.Key(
            f"{name}-telemetry-key",
            description=f"mlinfra telemetry: pod logs, alert topics ({stack})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=account.account_id.apply(
                lambda acct: json.dumps(telemetry_key_policy(acct, settings.region, amp_alerts=False), sort_keys=True)
            ),
            tags=base_tags,
            opts=child(parent, protect=settings.production),
        )
        group_name = pod_log_group_name(stack)
        group = aws.cloudwatch.LogGroup(
            f"{name}-pod-logs",
            name=group_name,
            retention_in_days=settings.eks.log_retention_days,
            kms_key_id=self.key.arn,
            tags=base_tags,
            opts=child(parent, delete_before_replace=True),
        )
        role = aws.iam.Role(
            f"{name}-fluent-bit-role",
            assume_role_policy=irsa_trust_policy(
                oidc_provider_arn, oidc_issuer, FLUENT_BIT_NAMESPACE, FLUENT_BIT_SERVICE_ACCOUNT
            ),
            tags=base_tags,
            opts=child(parent),
        )
        aws.iam.RolePolicy(
            f"{name}-fluent-bit-policy",
            role=role.id,
            policy=account.account_id.apply(
                lambda acct: json.dumps(fluent_bit_policy(settings.region, acct, group_name), sort_keys=True)
            ),
            opts=child(parent),
        )
        self.log_group_name = group.name
        self.role_arn = role.arn
