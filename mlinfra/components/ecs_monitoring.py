"""Monitoring for an ECS stack: one Amazon Managed Service for Prometheus workspace, its alert
manager (routing from `mlinfra:alerting` to SNS topics and their subscriptions), and a KMS key
for everything the stack writes as telemetry.

The alert rules themselves come from `mlinfra.monitoring.alerts`, the same definitions the
EKS path renders as PrometheusRule objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import yaml

from mlinfra.components.alert_topics import subscribe
from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.components.contract import namespace
from mlinfra.components.policies import telemetry_key_policy
from mlinfra.monitoring.alerts import rule_groups
from mlinfra.monitoring.routing import alertmanager_config
from mlinfra.spec.service import ServiceSpec
from mlinfra.spec.stack import StackSettings


def rule_group_yaml(spec: ServiceSpec) -> str:
    """A Prometheus rule file for one service, as AMP's RuleGroupsNamespace `data` takes it."""
    groups = rule_groups(spec.name, namespace(spec.name), spec.gpu_type is not None, kubernetes=False, slo=spec.slo)
    return yaml.safe_dump({"groups": groups}, sort_keys=True)


def alertmanager_yaml(settings: StackSettings, topic_arns: dict[str, str]) -> str:
    """AMP alert manager definition: the stack's routing, each receiver its SNS topic."""
    config = alertmanager_config(settings.alerting, platform="ecs", region=settings.region, topic_arns=topic_arns)
    return yaml.safe_dump({"alertmanager_config": yaml.safe_dump(config, sort_keys=True)}, sort_keys=True)


@dataclass(frozen=True)
class EcsMonitoringArgs:
    stack: str
    settings: StackSettings
    secret_values: dict[str, str] = field(default_factory=dict, repr=False)
    """`mlinfra:secrets` values (secret HTTPS subscription endpoints among them)."""


class EcsMonitoring(pulumi.ComponentResource):
    """AMP workspace + alert manager definition + telemetry KMS key + alert topic."""

    workspace_id: pulumi.Output[str]
    """The AMP workspace id (services add their rule groups to it)."""
    workspace_arn: pulumi.Output[str]
    """The AMP workspace ARN (task roles may remote-write to it, nothing else)."""
    remote_write_url: pulumi.Output[str]
    """`<prometheusEndpoint>api/v1/remote_write`, where the collector sidecars send metrics."""
    telemetry_key_arn: pulumi.Output[str]
    """KMS key for log groups, the AMP workspace and the alert topic."""

    def __init__(self, name: str, args: EcsMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}EcsMonitoring", name, None, opts)
        settings = args.settings
        base_tags = tags(args.stack)
        account = aws.get_caller_identity_output()
        key = aws.kms.Key(
            f"{name}-key",
            description=f"mlinfra telemetry: logs, metrics, alerts ({args.stack})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=account.account_id.apply(
                lambda acct: json.dumps(telemetry_key_policy(acct, settings.region, amp_alerts=True), sort_keys=True)
            ),
            tags=base_tags,
            opts=child(self),
        )
        self.telemetry_key_arn = key.arn
        workspace = aws.amp.Workspace(
            f"{name}-amp", alias=f"mlinfra-{args.stack}", kms_key_arn=key.arn, tags=base_tags, opts=child(self)
        )
        self.workspace_id = workspace.id
        self.workspace_arn = workspace.arn
        self.remote_write_url = workspace.prometheus_endpoint.apply(lambda e: e.rstrip("/") + "/api/v1/remote_write")

        topic_arns: dict[str, pulumi.Output[str]] = {}
        if settings.alerting is None:
            # Without mlinfra:alerting: the stack's topic, which nobody is subscribed to.
            if settings.ecs.alerting.sns_topic_arn is not None:
                topic_arns["sns"] = pulumi.Output.from_input(settings.ecs.alerting.sns_topic_arn)
            else:
                topic_arns["sns"] = self._topic(f"{name}-alerts", key, workspace.arn, account, base_tags)
        else:
            for receiver, spec in settings.alerting.receivers.items():
                sns = spec.sns
                assert sns is not None  # the loader refuses other receivers on ECS
                if sns.topic_arn is not None:
                    topic_arns[receiver] = pulumi.Output.from_input(sns.topic_arn)
                    continue
                arn = self._topic(f"{name}-alerts-{receiver}", key, workspace.arn, account, base_tags)
                topic_arns[receiver] = arn
                subscribe(f"{name}-alerts-{receiver}", self, arn, sns.email, sns.https, settings, args.secret_values)
        aws.amp.AlertManagerDefinition(
            f"{name}-alertmanager",
            workspace_id=workspace.id,
            definition=pulumi.Output.all(**topic_arns).apply(lambda arns: alertmanager_yaml(settings, dict(arns))),
            opts=child(self),
        )
        self.register_outputs({"workspace_id": self.workspace_id, "remote_write_url": self.remote_write_url})

    def _topic(
        self, name: str, key: aws.kms.Key, workspace_arn: pulumi.Output[str], account: Any, base_tags: dict[str, str]
    ) -> pulumi.Output[str]:
        """A KMS-encrypted topic only this stack's AMP workspace may publish to."""
        topic = aws.sns.Topic(name, kms_master_key_id=key.id, tags=base_tags, opts=child(self))
        aws.sns.TopicPolicy(
            f"{name}-policy",
            arn=topic.arn,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AmpAlertManagerPublishes",
                            "Effect": "Allow",
                            "Principal": {"Service": "aps.amazonaws.com"},
                            "Action": ["sns:Publish", "sns:GetTopicAttributes"],
                            "Resource": topic.arn,
                            "Condition": {
                                "ArnEquals": {"aws:SourceArn": workspace_arn},
                                "StringEquals": {"aws:SourceAccount": account.account_id},
                            },
                        }
                    ],
                },
                sort_keys=True,
            ),
            opts=child(self),
        )
        return topic.arn
