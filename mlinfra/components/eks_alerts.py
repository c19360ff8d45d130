"""SNS receivers on EKS: kube-prometheus-stack's Alertmanager publishes to SNS (`sns_configs`,
signed with the credentials of the AWS SDK's default chain, here its IRSA role).

Per sns receiver: a KMS-encrypted topic of the stack with its e-mail / HTTPS subscriptions, or
the receiver's own `topicArn`. The Alertmanager role may call only what the SNS notifier calls
(`sns:Publish`, checked against notify/sns/sns.go of the Alertmanager the chart runs) on those
topics, and use the stack's telemetry key to encrypt for them.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from mlinfra.components.alert_topics import subscribe
from mlinfra.components.base import child, tags
from mlinfra.components.irsa import irsa_trust_policy
from mlinfra.components.policies import policy_document
from mlinfra.monitoring.routing import ALERTMANAGER_SERVICE_ACCOUNT
from mlinfra.spec.stack import StackSettings

SNS_NOTIFIER_ACTIONS = ("sns:Publish",)
# What a publisher to a topic encrypted with a customer key needs on that key.
TOPIC_KEY_ACTIONS = ("kms:GenerateDataKey*", "kms:Decrypt")


def sns_receivers(settings: StackSettings) -> list[str]:
    alerting = settings.alerting
    return [] if alerting is None else [n for n, r in alerting.receivers.items() if r.sns is not None]


def alertmanager_publish_policy(topic_arns: list[str], key_arn: str | None) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "PublishAlerts",
            "Effect": "Allow",
            "Action": list(SNS_NOTIFIER_ACTIONS),
            "Resource": sorted(topic_arns),
        }
    ]
    if key_arn is not None:
        statements.append(
            {"Sid": "EncryptForOwnTopics", "Effect": "Allow", "Action": list(TOPIC_KEY_ACTIONS), "Resource": [key_arn]}
        )
    return policy_document(statements)


def _policy_json(topic_arns: list[str], key_arn: str | None) -> str:
    return json.dumps(alertmanager_publish_policy(topic_arns, key_arn), sort_keys=True)


class AlertTopics:
    """`topic_arns`: sns receiver -> its topic; `role_arn`: the Alertmanager's IRSA role (None
    without sns receivers)."""

    topic_arns: dict[str, pulumi.Output[str]]
    role_arn: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        parent: pulumi.Resource,
        stack: str,
        settings: StackSettings,
        secret_values: dict[str, str],
        key: aws.kms.Key,
        oidc: tuple[pulumi.Input[str], pulumi.Input[str]],
        namespace: str,
    ):
        self.topic_arns = {}
        self.role_arn = None
        receivers = sns_receivers(settings)
        if not receivers:
            return
        assert settings.alerting is not None
        own_topics = False
        for receiver in receivers:
            sns = settings.alerting.receivers[receiver].sns
            assert sns is not None
            if sns.topic_arn is not None:  # its subscriptions (and key) are its owner's
                self.topic_arns[receiver] = pulumi.Output.from_input(sns.topic_arn)
                continue
            own_topics = True
            topic = aws.sns.Topic(
                f"{name}-alerts-{receiver}", kms_master_key_id=key.id, tags=tags(stack), opts=child(parent)
            )
            self.topic_arns[receiver] = topic.arn
            subscribe(f"{name}-alerts-{receiver}", parent, topic.arn, sns.email, sns.https, settings, secret_values)
        role = aws.iam.Role(
            f"{name}-alertmanager-role",
            assume_role_policy=irsa_trust_policy(oidc[0], oidc[1], namespace, ALERTMANAGER_SERVICE_ACCOUNT),
            tags=tags(stack),
            opts=child(parent),
        )
        topics = pulumi.Output.all(*self.topic_arns.values())
        policy = (
            pulumi.Output.all(key.arn, topics).apply(lambda v: _policy_json(list(v[1]), v[0]))
            if own_topics
            else topics.apply(lambda t: _policy_json(list(t), None))
        )
        aws.iam.RolePolicy(f"{name}-alertmanager-policy", role=role.id, policy=policy, opts=child(parent))
        self.role_arn = role.arn
