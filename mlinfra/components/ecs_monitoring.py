"""Monitoring for an ECS stack: one Amazon Managed Service for Prometheus workspace, its alert
manager (to SNS), and a KMS key for everything the stack writes as telemetry.

The alert rules themselves come from `mlinfra.monitoring.alerts`, the same definitions the
EKS path renders as PrometheusRule objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import yaml

from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.components.contract import namespace
from mlinfra.monitoring.alerts import rule_groups
from mlinfra.spec.service import ServiceSpec
from mlinfra.spec.stack import StackSettings


def rule_group_yaml(spec: ServiceSpec) -> str:
    """A Prometheus rule file for one service, as AMP's RuleGroupsNamespace `data` takes it."""
    groups = rule_groups(spec.name, namespace(spec.name), spec.gpu_type is not None, kubernetes=False)
    return yaml.safe_dump({"groups": groups}, sort_keys=True)


def alertmanager_yaml(topic_arn: str, region: str) -> str:
    """AMP alert manager definition: every alert to the stack's SNS topic, grouped per service."""
    config = {
        "route": {"receiver": "sns", "group_by": ["alertname", "service"],
                  "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"},
        "receivers": [{"name": "sns", "sns_configs": [{
            "topic_arn": topic_arn, "sigv4": {"region": region},
            "subject": "mlinfra alert: {{ .CommonLabels.alertname }} ({{ .CommonLabels.service }})",
        }]}],
    }
    return yaml.safe_dump({"alertmanager_config": yaml.safe_dump(config, sort_keys=True)},
                          sort_keys=True)


def telemetry_key_policy(account_id: str, region: str) -> dict[str, object]:
    """The account administers the key; CloudWatch Logs may use it only for this account's log
    groups, and AMP only to publish alerts to the encrypted SNS topic."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatchLogs", "Effect": "Allow",
         "Principal": {"Service": f"logs.{region}.amazonaws.com"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                    "kms:DescribeKey"],
         "Resource": "*",
         "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                   f"arn:aws:logs:{region}:{account_id}:log-group:*"}}},
        {"Sid": "AmpPublishesAlerts", "Effect": "Allow", "Principal": {"Service": "aps.amazonaws.com"},
         "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}},
    ]}


@dataclass(frozen=True)
class EcsMonitoringArgs:
    stack: str
    settings: StackSettings


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
            f"{name}-key", description=f"mlinfra telemetry: logs, metrics, alerts ({args.stack})",
            enable_key_rotation=True, deletion_window_in_days=30,
            policy=account.account_id.apply(
                lambda acct: json.dumps(telemetry_key_policy(acct, settings.region), sort_keys=True)),
            tags=base_tags, opts=child(self))
        self.telemetry_key_arn = key.arn
        workspace = aws.amp.Workspace(f"{name}-amp", alias=f"mlinfra-{args.stack}", kms_key_arn=key.arn,
                                      tags=base_tags, opts=child(self))
        self.workspace_id = workspace.id
        self.workspace_arn = workspace.arn
        self.remote_write_url = workspace.prometheus_endpoint.apply(
            lambda e: e.rstrip("/") + "/api/v1/remote_write")

        topic_arn: pulumi.Output[str]
        if settings.ecs.alerting.sns_topic_arn is not None:
            topic_arn = pulumi.Output.from_input(settings.ecs.alerting.sns_topic_arn)
        else:
            topic = aws.sns.Topic(f"{name}-alerts", kms_master_key_id=key.id, tags=base_tags,
                                  opts=child(self))
            aws.sns.TopicPolicy(f"{name}-alerts-policy", arn=topic.arn, policy=pulumi.Output.json_dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Sid": "AmpAlertManagerPublishes", "Effect": "Allow",
                    "Principal": {"Service": "aps.amazonaws.com"},
                    "Action": ["sns:Publish", "sns:GetTopicAttributes"], "Resource": topic.arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": workspace.arn},
                                  "StringEquals": {"aws:SourceAccount": account.account_id}}}]},
                sort_keys=True), opts=child(self))
            topic_arn = topic.arn
        aws.amp.AlertManagerDefinition(
            f"{name}-alertmanager", workspace_id=workspace.id,
            definition=topic_arn.apply(lambda arn: alertmanager_yaml(arn, settings.region)),
            opts=child(self))
        self.register_outputs({"workspace_id": self.workspace_id,
                               "remote_write_url": self.remote_write_url})
