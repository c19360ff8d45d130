"""Test support: recorded Pulumi inputs -> the AWS API requests each resource turns into.

The Pulumi AWS provider sends these requests on `pulumi up`; rebuilding them here lets
botocore's own parameter validation (the same shapes the AWS CLI checks) judge them offline
and lets the ECS tests send them to a local AWS emulator (moto). Only tests use it, so it is
not part of the installed package; the one request `mlinfra render` writes
(RegisterTaskDefinition) is built by `mlinfra.engine.task_definition`, which this module
reuses. A field this mapping does not know is passed through under its API-style name, so
botocore reports it as an unknown parameter instead of it being dropped silently.

`refs` (see `api_calls`) replaces identifiers that only exist after deployment (ARNs, ids)
with real ones, e.g. those a test got back from the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from mlinfra.engine.task_definition import PULUMI_ONLY as _PULUMI_ONLY
from mlinfra.engine.task_definition import drop_none as _drop_none
from mlinfra.engine.task_definition import pascal as _pascal
from mlinfra.engine.task_definition import register_task_definition_input
from mlinfra.engine.task_definition import tags_list as _tags_list

__all__ = ["CHECKED_PREFIXES", "ApiCall", "api_calls", "register_task_definition_input"]


def create_cluster_input(inputs: dict[str, Any], name: str) -> dict[str, Any]:
    """`aws:ecs/cluster:Cluster` -> ecs CreateCluster."""
    out: dict[str, Any] = {"clusterName": inputs.get("name", name)}
    for key, value in inputs.items():
        if key in _PULUMI_ONLY or key == "name":
            continue
        out[key] = _tags_list(value) if key == "tags" else value
    return _drop_none(out)


def create_capacity_provider_input(inputs: dict[str, Any], name: str) -> dict[str, Any]:
    """`aws:ecs/capacityProvider:CapacityProvider` -> ecs CreateCapacityProvider."""
    out: dict[str, Any] = {"name": inputs.get("name", name)}
    for key, value in inputs.items():
        if key in _PULUMI_ONLY or key == "name":
            continue
        out[key] = _tags_list(value) if key == "tags" else value
    return _drop_none(out)


def put_cluster_capacity_providers_input(inputs: dict[str, Any]) -> dict[str, Any]:
    """`aws:ecs/clusterCapacityProviders:ClusterCapacityProviders` -> ecs PutClusterCapacityProviders."""
    out: dict[str, Any] = {"capacityProviders": [], "defaultCapacityProviderStrategy": []}
    for key, value in inputs.items():
        if key in _PULUMI_ONLY:
            continue
        if key == "clusterName":
            out["cluster"] = value
        elif key == "defaultCapacityProviderStrategies":
            out["defaultCapacityProviderStrategy"] = value
        else:
            out[key] = value
    return out  # both lists are required by the API, even when empty


def _deployment_configuration(value: dict[str, Any]) -> dict[str, Any]:
    """The provider takes bake times as strings (pulumi-aws 7.x) and sends integers."""

    def convert(v: Any, key: str = "") -> Any:
        if isinstance(v, dict):
            return {k: convert(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [convert(x) for x in v]
        return int(v) if key.endswith("akeTimeInMinutes") and isinstance(v, str) else v

    return dict(convert(value))


def create_service_input(inputs: dict[str, Any]) -> dict[str, Any]:
    """`aws:ecs/service:Service` -> ecs CreateService."""
    out: dict[str, Any] = {}
    deployment: dict[str, Any] = {}
    for key, value in inputs.items():
        if key in _PULUMI_ONLY:
            continue
        if key == "name":
            out["serviceName"] = value
        elif key == "deploymentCircuitBreaker":
            deployment["deploymentCircuitBreaker"] = value
        elif key == "deploymentMaximumPercent":
            deployment["maximumPercent"] = value
        elif key == "deploymentMinimumHealthyPercent":
            deployment["minimumHealthyPercent"] = value
        elif key == "alarms":
            deployment["alarms"] = value
        elif key == "deploymentConfiguration":
            deployment.update(_deployment_configuration(value))
        elif key == "capacityProviderStrategies":
            out["capacityProviderStrategy"] = value
        elif key == "orderedPlacementStrategies":
            out["placementStrategy"] = value
        elif key == "loadBalancers":
            out[key] = [{("loadBalancerName" if k == "elbName" else k): v for k, v in lb.items()} for lb in value]
        elif key == "networkConfiguration":
            vpc = {k: v for k, v in value.items() if k != "assignPublicIp"}
            if "assignPublicIp" in value:
                vpc["assignPublicIp"] = "ENABLED" if value["assignPublicIp"] else "DISABLED"
            out[key] = {"awsvpcConfiguration": vpc}
        elif key == "serviceRegistries":
            out[key] = [value] if isinstance(value, dict) else value
        elif key == "enableEcsManagedTags":
            out["enableECSManagedTags"] = value
        elif key == "iamRole":
            out["role"] = value
        elif key == "tags":
            out["tags"] = _tags_list(value)
        else:
            out[key] = value
    if deployment:
        out["deploymentConfiguration"] = deployment
    return _drop_none(out)


# --- ELBv2 and Application Auto Scaling: Pulumi camelCase -> API PascalCase -------------

_ELB_RENAMES = {
    "redirect": "RedirectConfig",
    "fixedResponse": "FixedResponseConfig",
    "forward": "ForwardConfig",
    "authenticateOidc": "AuthenticateOidcConfig",
    "authenticateCognito": "AuthenticateCognitoConfig",
    "stickiness": "TargetGroupStickinessConfig",
    "arn": "TargetGroupArn",
    "duration": "DurationSeconds",
}


def _pascal_tree(value: Any, renames: dict[str, str], keep_maps: frozenset[str] = frozenset()) -> Any:
    if isinstance(value, list):
        return [_pascal_tree(v, renames, keep_maps) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        # Free-form maps (extra OIDC params) keep their keys as the user wrote them.
        out[renames.get(key, _pascal(key))] = item if key in keep_maps else _pascal_tree(item, renames, keep_maps)
    return out


def _attributes(pairs: dict[str, Any]) -> list[dict[str, str]]:
    def text(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    return [{"Key": k, "Value": text(v)} for k, v in sorted(pairs.items()) if v is not None]


def create_load_balancer_input(inputs: dict[str, Any], name: str) -> dict[str, Any]:
    """`aws:lb/loadBalancer:LoadBalancer` -> elbv2 CreateLoadBalancer."""
    out: dict[str, Any] = {"Name": inputs.get("name", name)}
    for key, value in inputs.items():
        if key in _PULUMI_ONLY or key == "name":
            continue
        if key == "internal":
            out["Scheme"] = "internal" if value else "internet-facing"
        elif key == "loadBalancerType":
            out["Type"] = value
        elif key == "tags":
            out["Tags"] = _tags_list(value, "Key", "Value")
        else:
            out[_pascal(key)] = _pascal_tree(value, _ELB_RENAMES)
    return _drop_none(out)


def load_balancer_attributes(inputs: dict[str, Any]) -> list[dict[str, str]]:
    """The ModifyLoadBalancerAttributes pairs the provider sends after creating the ALB."""
    logs = inputs.get("accessLogs") or {}
    return _attributes(
        {
            "deletion_protection.enabled": inputs.get("enableDeletionProtection"),
            "routing.http.drop_invalid_header_fields.enabled": inputs.get("dropInvalidHeaderFields"),
            "idle_timeout.timeout_seconds": inputs.get("idleTimeout"),
            "routing.http.desync_mitigation_mode": inputs.get("desyncMitigationMode"),
            "access_logs.s3.enabled": logs.get("enabled"),
            "access_logs.s3.bucket": logs.get("bucket"),
            "access_logs.s3.prefix": logs.get("prefix"),
        }
    )


def create_target_group_input(inputs: dict[str, Any], name: str) -> dict[str, Any]:
    """`aws:lb/targetGroup:TargetGroup` -> elbv2 CreateTargetGroup."""
    out: dict[str, Any] = {"Name": inputs.get("name", name)}
    for key, value in inputs.items():
        if key in _PULUMI_ONLY or key == "name":
            continue
        if key == "healthCheck":
            hc = value
            out.update(
                {
                    "HealthCheckEnabled": hc.get("enabled"),
                    "HealthCheckPath": hc.get("path"),
                    "HealthCheckPort": None if hc.get("port") is None else str(hc["port"]),
                    "HealthCheckProtocol": hc.get("protocol"),
                    "HealthCheckIntervalSeconds": hc.get("interval"),
                    "HealthCheckTimeoutSeconds": hc.get("timeout"),
                    "HealthyThresholdCount": hc.get("healthyThreshold"),
                    "UnhealthyThresholdCount": hc.get("unhealthyThreshold"),
                    "Matcher": {"HttpCode": hc["matcher"]} if hc.get("matcher") else None,
                }
            )
        elif key == "tags":
            out["Tags"] = _tags_list(value, "Key", "Value")
        else:
            out[_pascal(key)] = _pascal_tree(value, _ELB_RENAMES)
    return _drop_none(out)


def target_group_attributes(inputs: dict[str, Any]) -> list[dict[str, str]]:
    stickiness = inputs.get("stickiness") or {}
    return _attributes(
        {
            "deregistration_delay.timeout_seconds": inputs.get("deregistrationDelay"),
            "slow_start.duration_seconds": inputs.get("slowStart"),
            "load_balancing.algorithm.type": inputs.get("loadBalancingAlgorithmType"),
            "stickiness.enabled": stickiness.get("enabled"),
            "stickiness.type": stickiness.get("type"),
        }
    )


def create_listener_input(inputs: dict[str, Any]) -> dict[str, Any]:
    """`aws:lb/listener:Listener` -> elbv2 CreateListener."""
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if key in _PULUMI_ONLY:
            continue
        if key == "certificateArn":
            out["Certificates"] = [{"CertificateArn": value}]
        elif key == "alpnPolicy":
            out["AlpnPolicy"] = [value]
        elif key == "tags":
            out["Tags"] = _tags_list(value, "Key", "Value")
        else:
            out[_pascal(key)] = _pascal_tree(value, _ELB_RENAMES, frozenset({"authenticationRequestExtraParams"}))
    return _drop_none(out)


# Listener rule conditions: Pulumi's block -> the API's `Field` and its `<Field>Config`.
_RULE_CONDITIONS = {
    "hostHeader": ("host-header", "HostHeaderConfig"),
    "pathPattern": ("path-pattern", "PathPatternConfig"),
    "sourceIp": ("source-ip", "SourceIpConfig"),
    "httpHeader": ("http-header", "HttpHeaderConfig"),
    "httpRequestMethod": ("http-request-method", "HttpRequestMethodConfig"),
    "queryStrings": ("query-string", "QueryStringConfig"),
}
_RULE_TRANSFORMS = {"urlRewriteConfig": "UrlRewriteConfig", "hostHeaderRewriteConfig": "HostHeaderRewriteConfig"}


def _rule_condition(condition: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in condition.items():
        if key in _RULE_CONDITIONS:
            field_name, config = _RULE_CONDITIONS[key]
            out["Field"] = field_name
            out[config] = (
                {"Values": _pascal_tree(value, {})} if key == "queryStrings" else _pascal_tree(value, _ELB_RENAMES)
            )
        else:
            out[_pascal(key)] = _pascal_tree(value, _ELB_RENAMES)
    return out


def _rule_transform(transform: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in transform.items():
        if key in _RULE_TRANSFORMS and isinstance(value, dict) and "rewrite" in value:
            rewrites = value["rewrite"] if isinstance(value["rewrite"], list) else [value["rewrite"]]
            out[_RULE_TRANSFORMS[key]] = {"Rewrites": _pascal_tree(rewrites, {})}
        else:
            out[_RULE_TRANSFORMS.get(key, _pascal(key))] = _pascal_tree(value, {})
    return out


def create_rule_input(inputs: dict[str, Any]) -> dict[str, Any]:
    """`aws:lb/listenerRule:ListenerRule` -> elbv2 CreateRule."""
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if key in _PULUMI_ONLY:
            continue
        if key == "conditions":
            out["Conditions"] = [_rule_condition(c) for c in value]
        elif key == "transforms":
            out["Transforms"] = [_rule_transform(t) for t in value]
        elif key == "tags":
            out["Tags"] = _tags_list(value, "Key", "Value")
        else:
            out[_pascal(key)] = _pascal_tree(value, _ELB_RENAMES, frozenset({"authenticationRequestExtraParams"}))
    return _drop_none(out)


def register_scalable_target_input(inputs: dict[str, Any]) -> dict[str, Any]:
    """`aws:appautoscaling/target:Target` -> application-autoscaling RegisterScalableTarget."""
    out = {
        ("RoleARN" if k == "roleArn" else _pascal(k)): v
        for k, v in inputs.items()
        if k not in _PULUMI_ONLY and k != "tags"
    }
    if isinstance(inputs.get("tags"), dict):
        out["Tags"] = dict(inputs["tags"])  # this API takes tags as a plain map
    return _drop_none(out)


def _numbers_in_steps(config: dict[str, Any]) -> dict[str, Any]:
    # The provider keeps step bounds as strings (to tell 0 from unset); the API wants doubles.
    steps = config.get("StepAdjustments") or []
    for step in steps:
        for bound in ("MetricIntervalLowerBound", "MetricIntervalUpperBound"):
            if isinstance(step.get(bound), str) and step[bound] != "":
                step[bound] = float(step[bound])
    return config


def put_scaling_policy_input(inputs: dict[str, Any], name: str) -> dict[str, Any]:
    """`aws:appautoscaling/policy:Policy` -> application-autoscaling PutScalingPolicy."""
    out: dict[str, Any] = {"PolicyName": inputs.get("name", name)}
    for key, value in inputs.items():
        if key in _PULUMI_ONLY or key == "name":
            continue
        out[_pascal(key)] = _pascal_tree(value, {})
    if "StepScalingPolicyConfiguration" in out:
        _numbers_in_steps(out["StepScalingPolicyConfiguration"])
    return _drop_none(out)


@dataclass(frozen=True)
class ApiCall:
    """One AWS API request a recorded resource turns into."""

    service: str
    operation: str
    params: dict[str, Any]


Mapper = Callable[[dict[str, Any], str], list[ApiCall]]


def _dimension_list(dimensions: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"Name": k, "Value": v} for k, v in sorted(dimensions.items())]


def put_metric_alarm_input(inputs: dict[str, Any], name: str) -> dict[str, Any]:
    """`aws:cloudwatch/metricAlarm:MetricAlarm` -> cloudwatch PutMetricAlarm."""
    out: dict[str, Any] = {"AlarmName": inputs.get("name", name)}
    for key, value in inputs.items():
        if key in _PULUMI_ONLY or key == "name":
            continue
        if key == "tags":
            out["Tags"] = _tags_list(value, "Key", "Value")
        elif key == "dimensions":
            out["Dimensions"] = _dimension_list(value)
        elif key == "metricQueries":
            out["Metrics"] = [_metric_query(q) for q in value]
        else:
            out[_pascal(key)] = value
    return _drop_none(out)


def _metric_query(query: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in query.items():
        if key == "metric":
            stat = {"Period": value["period"], "Stat": value["stat"]}
            metric = {"Namespace": value["namespace"], "MetricName": value["metricName"]}
            if value.get("dimensions"):
                metric["Dimensions"] = _dimension_list(value["dimensions"])
            out["MetricStat"] = {"Metric": metric, **stat}
        else:
            out[_pascal(key)] = value
    return out


PLACEHOLDER_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/offline/0"


def _lb(inputs: dict[str, Any], name: str) -> list[ApiCall]:
    calls = [ApiCall("elbv2", "CreateLoadBalancer", create_load_balancer_input(inputs, name))]
    attrs = load_balancer_attributes(inputs)
    if attrs:
        calls.append(
            ApiCall("elbv2", "ModifyLoadBalancerAttributes", {"LoadBalancerArn": PLACEHOLDER_ARN, "Attributes": attrs})
        )
    return calls


def _tg(inputs: dict[str, Any], name: str) -> list[ApiCall]:
    calls = [ApiCall("elbv2", "CreateTargetGroup", create_target_group_input(inputs, name))]
    attrs = target_group_attributes(inputs)
    if attrs:
        calls.append(
            ApiCall("elbv2", "ModifyTargetGroupAttributes", {"TargetGroupArn": PLACEHOLDER_ARN, "Attributes": attrs})
        )
    return calls


MAPPERS: dict[str, Mapper] = {
    "aws:ecs/cluster:Cluster": lambda i, n: [ApiCall("ecs", "CreateCluster", create_cluster_input(i, n))],
    "aws:ecs/capacityProvider:CapacityProvider": lambda i, n: [
        ApiCall("ecs", "CreateCapacityProvider", create_capacity_provider_input(i, n))
    ],
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": lambda i, n: [
        ApiCall("ecs", "PutClusterCapacityProviders", put_cluster_capacity_providers_input(i))
    ],
    "aws:ecs/taskDefinition:TaskDefinition": lambda i, n: [
        ApiCall("ecs", "RegisterTaskDefinition", register_task_definition_input(i))
    ],
    "aws:ecs/service:Service": lambda i, n: [ApiCall("ecs", "CreateService", create_service_input(i))],
    "aws:lb/loadBalancer:LoadBalancer": _lb,
    "aws:lb/targetGroup:TargetGroup": _tg,
    "aws:lb/listener:Listener": lambda i, n: [ApiCall("elbv2", "CreateListener", create_listener_input(i))],
    "aws:lb/listenerRule:ListenerRule": lambda i, n: [ApiCall("elbv2", "CreateRule", create_rule_input(i))],
    "aws:appautoscaling/target:Target": lambda i, n: [
        ApiCall("application-autoscaling", "RegisterScalableTarget", register_scalable_target_input(i))
    ],
    "aws:appautoscaling/policy:Policy": lambda i, n: [
        ApiCall("application-autoscaling", "PutScalingPolicy", put_scaling_policy_input(i, n))
    ],
    "aws:cloudwatch/metricAlarm:MetricAlarm": lambda i, n: [
        ApiCall("cloudwatch", "PutMetricAlarm", put_metric_alarm_input(i, n))
    ],
}
CHECKED_PREFIXES = ("aws:ecs/", "aws:lb/", "aws:alb/", "aws:appautoscaling/")


def _with_refs(value: Any, refs: Mapping[str, Any]) -> Any:
    if isinstance(value, list):
        return [_with_refs(v, refs) for v in value]
    if not isinstance(value, dict):
        return value
    return {k: (refs[k] if k in refs else _with_refs(v, refs)) for k, v in value.items()}


def api_calls(
    type_token: str, inputs: dict[str, Any], name: str, refs: Mapping[str, Any] | None = None
) -> list[ApiCall] | None:
    """The requests one recorded resource turns into (None: no mapping for its type).

    `refs[field]` replaces that request field wherever it occurs (e.g. `TargetGroupArn`,
    `subnets`): identifiers that only exist once the referenced resource is deployed.
    """
    mapper = MAPPERS.get(type_token)
    if mapper is None:
        return None
    calls = mapper(inputs, name)
    return [replace(c, params=_with_refs(c.params, refs)) for c in calls] if refs else calls
