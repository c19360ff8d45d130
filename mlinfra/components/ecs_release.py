"""How a new task definition goes live on ECS: ECS's own canary / linear / blue-green
deployments (`deploymentConfiguration.strategy`), judged by CloudWatch alarms on the target
groups' 5xx ratio and p99 latency, rolled back by ECS when one fires.

ECS shifts the listener rule's weights between two target groups and swaps which one is
primary after each release, so "the new version's target group" alternates: both carry the
alarms, and ECS watches all of them while a release bakes (an alarm on the old version's group
also rolls back, which only ever returns to the version that was running).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import child, physical_name
from mlinfra.spec.ecs import NativeDeployment
from mlinfra.spec.rollout import Rollout

# Lets ECS rewrite the production listener rule's weights and register tasks in both groups.
LOAD_BALANCER_ROLE_POLICY = "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
ALB_NAMESPACE = "AWS/ApplicationELB"
ALARM_PERIOD_SECONDS = 60
# Two breaching minutes out of three: one slow batch does not roll a release back.
ALARM_EVALUATION_PERIODS = 3
ALARM_DATAPOINTS = 2


def infrastructure_trust() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        },
        sort_keys=True,
    )


def _dimensions(load_balancer: pulumi.Input[str], target_group: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    return {"LoadBalancer": load_balancer, "TargetGroup": target_group}


def error_ratio_alarm(
    name: str,
    alarm_name: str,
    rollout: Rollout,
    load_balancer_suffix: pulumi.Input[str],
    target_group_suffix: pulumi.Input[str],
    alarm_tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.cloudwatch.MetricAlarm:
    """The group's 5xx answers over its requests, per minute; no requests is not a breach."""

    def count(metric: str) -> aws.cloudwatch.MetricAlarmMetricQueryMetricArgs:
        return aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            metric_name=metric,
            namespace=ALB_NAMESPACE,
            period=ALARM_PERIOD_SECONDS,
            stat="Sum",
            dimensions=_dimensions(load_balancer_suffix, target_group_suffix),
        )

    return aws.cloudwatch.MetricAlarm(
        name,
        name=alarm_name,
        alarm_description=f"5xx ratio above {rollout.max_error_ratio:g}: ECS rolls the release back",
        comparison_operator="GreaterThanThreshold",
        threshold=rollout.max_error_ratio,
        evaluation_periods=ALARM_EVALUATION_PERIODS,
        datapoints_to_alarm=ALARM_DATAPOINTS,
        treat_missing_data="notBreaching",
        metric_queries=[
            aws.cloudwatch.MetricAlarmMetricQueryArgs(id="errors", metric=count("HTTPCode_Target_5XX_Count")),
            aws.cloudwatch.MetricAlarmMetricQueryArgs(id="requests", metric=count("RequestCount")),
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="ratio", expression="IF(requests > 0, errors / requests, 0)", label="5xx ratio", return_data=True
            ),
        ],
        tags=alarm_tags,
        opts=opts,
    )


def latency_alarm(
    name: str,
    alarm_name: str,
    rollout: Rollout,
    load_balancer_suffix: pulumi.Input[str],
    target_group_suffix: pulumi.Input[str],
    alarm_tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.cloudwatch.MetricAlarm:
    """p99 of the group's target response time (seconds), per minute."""
    return aws.cloudwatch.MetricAlarm(
        name,
        name=alarm_name,
        alarm_description=f"p99 latency above {rollout.max_p99_seconds:g}s: ECS rolls the release back",
        comparison_operator="GreaterThanThreshold",
        threshold=rollout.max_p99_seconds,
        evaluation_periods=ALARM_EVALUATION_PERIODS,
        datapoints_to_alarm=ALARM_DATAPOINTS,
        treat_missing_data="notBreaching",
        namespace=ALB_NAMESPACE,
        metric_name="TargetResponseTime",
        extended_statistic="p99",
        period=ALARM_PERIOD_SECONDS,
        dimensions=_dimensions(load_balancer_suffix, target_group_suffix),
        tags=alarm_tags,
        opts=opts,
    )


def release_alarms(
    parent: pulumi.Resource,
    name: str,
    stack: str,
    service: str,
    rollout: Rollout,
    load_balancer_suffix: pulumi.Input[str],
    target_groups: dict[str, pulumi.Input[str]],
    alarm_tags: dict[str, str],
) -> list[aws.cloudwatch.MetricAlarm]:
    """The 5xx-ratio and latency alarms of each target group (by label: `blue`, `green`)."""
    alarms = []
    for label, suffix in sorted(target_groups.items()):
        for kind, build in (("5xx", error_ratio_alarm), ("p99", latency_alarm)):
            alarms.append(
                build(
                    f"{name}-{label}-{kind}",
                    physical_name(stack, service, label, kind),
                    rollout,
                    load_balancer_suffix,
                    suffix,
                    alarm_tags,
                    child(parent),
                )
            )
    return alarms


def deployment_configuration(native: NativeDeployment, rollout: Rollout) -> aws.ecs.ServiceDeploymentConfigurationArgs:
    """`deploymentConfiguration` for a canary, linear or blue-green release. The provider at
    the pinned pulumi-aws takes the bake times as strings and sends them as integers."""
    bake = str(rollout.bake_minutes)
    return aws.ecs.ServiceDeploymentConfigurationArgs(
        strategy=native.strategy,
        # After all traffic moved: how long the old tasks stay, ready to take it back.
        bake_time_in_minutes=bake,
        canary_configuration=(
            aws.ecs.ServiceDeploymentConfigurationCanaryConfigurationArgs(
                canary_percent=native.percent, canary_bake_time_in_minutes=bake
            )
            if native.strategy == "CANARY"
            else None
        ),
        linear_configuration=(
            aws.ecs.ServiceDeploymentConfigurationLinearConfigurationArgs(
                step_percent=native.percent, step_bake_time_in_minutes=bake
            )
            if native.strategy == "LINEAR"
            else None
        ),
    )


def deployment_alarms(alarm_names: list[pulumi.Output[str]]) -> aws.ecs.ServiceAlarmsArgs:
    return aws.ecs.ServiceAlarmsArgs(alarm_names=alarm_names, enable=True, rollback=True)
