"""Recorded Pulumi inputs -> the AWS API requests the provider would send for them.

The offline plan records resource inputs in Pulumi's wire form (camelCase, provider field
names). These functions turn the ECS, ELBv2 and Application Auto Scaling ones into the
request shapes of the AWS APIs (RegisterTaskDefinition, CreateService, CreateTargetGroup...),
so that they can be checked by botocore's own parameter validation, sent to a local AWS
emulator, and written out by `mlinfra render` as `ecs/*.json`.

`refs` replaces identifiers that only exist after deployment (ARNs, ids) with real ones,
e.g. those a test got back from the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

Inputs = Mapping[str, Any]


def _tags(inputs: Inputs, key: str = "key", value: str = "value") -> list[dict[str, str]]:
    return [{key: k, value: str(v)} for k, v in sorted((inputs.get("tags") or {}).items())]


def _ref(refs: Mapping[str, str] | None, name: str, default: Any) -> Any:
    return (refs or {}).get(name, default)


# --- ECS -------------------------------------------------------------------------------------

def create_cluster(inputs: Inputs) -> dict[str, Any]:
    return {"clusterName": inputs["name"],
            "settings": [{"name": s["name"], "value": s["value"]} for s in inputs.get("settings", [])],
            "tags": _tags(inputs)}


def register_task_definition(inputs: Inputs, refs: Mapping[str, str] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "family": inputs["family"],
        "containerDefinitions": json.loads(inputs["containerDefinitions"]),
        "cpu": str(inputs["cpu"]),
        "memory": str(inputs["memory"]),
        "networkMode": inputs["networkMode"],
        "requiresCompatibilities": list(inputs["requiresCompatibilities"]),
        "executionRoleArn": _ref(refs, "executionRoleArn", inputs["executionRoleArn"]),
        "taskRoleArn": _ref(refs, "taskRoleArn", inputs["taskRoleArn"]),
        "volumes": [{"name": v["name"]} for v in inputs.get("volumes", [])],
        "tags": _tags(inputs),
    }
    platform = inputs.get("runtimePlatform")
    if platform:
        request["runtimePlatform"] = {"operatingSystemFamily": platform["operatingSystemFamily"],
                                      "cpuArchitecture": platform["cpuArchitecture"]}
    return request


def create_service(inputs: Inputs, refs: Mapping[str, str] | None = None) -> dict[str, Any]:
    network = inputs["networkConfiguration"]
    breaker = inputs["deploymentCircuitBreaker"]
    request: dict[str, Any] = {
        "cluster": _ref(refs, "cluster", inputs["cluster"]),
        "serviceName": inputs["name"],
        "taskDefinition": _ref(refs, "taskDefinition", inputs["taskDefinition"]),
        "desiredCount": int(inputs["desiredCount"]),
        "capacityProviderStrategy": [
            {"capacityProvider": s["capacityProvider"], "weight": int(s["weight"]), "base": int(s["base"])}
            for s in inputs["capacityProviderStrategies"]],
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": bool(breaker["enable"]), "rollback": bool(breaker["rollback"])},
            "maximumPercent": int(inputs["deploymentMaximumPercent"]),
            "minimumHealthyPercent": int(inputs["deploymentMinimumHealthyPercent"]),
        },
        "healthCheckGracePeriodSeconds": int(inputs["healthCheckGracePeriodSeconds"]),
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": list(_ref(refs, "subnets", network["subnets"])),
            "securityGroups": list(_ref(refs, "securityGroups", network["securityGroups"])),
            "assignPublicIp": "ENABLED" if network.get("assignPublicIp") else "DISABLED",
        }},
        "loadBalancers": [{"targetGroupArn": _ref(refs, "targetGroupArn", lb["targetGroupArn"]),
                           "containerName": lb["containerName"], "containerPort": int(lb["containerPort"])}
                          for lb in inputs["loadBalancers"]],
        "propagateTags": inputs.get("propagateTags", "NONE"),
        "enableECSManagedTags": bool(inputs.get("enableEcsManagedTags", False)),
        "enableExecuteCommand": bool(inputs.get("enableExecuteCommand", False)),
        "tags": _tags(inputs),
    }
    if inputs.get("platformVersion"):
        request["platformVersion"] = inputs["platformVersion"]
    if inputs.get("availabilityZoneRebalancing"):
        request["availabilityZoneRebalancing"] = inputs["availabilityZoneRebalancing"]
    if inputs.get("orderedPlacementStrategies"):
        request["placementStrategy"] = [{"type": s["type"], "field": s["field"]}
                                        for s in inputs["orderedPlacementStrategies"]]
    return request


def create_capacity_provider(inputs: Inputs, refs: Mapping[str, str] | None = None) -> dict[str, Any]:
    asg = inputs["autoScalingGroupProvider"]
    scaling = asg["managedScaling"]
    return {
        "name": inputs["name"],
        "autoScalingGroupProvider": {
            "autoScalingGroupArn": _ref(refs, "autoScalingGroupArn", asg["autoScalingGroupArn"]),
            "managedScaling": {
                "status": scaling["status"], "targetCapacity": int(scaling["targetCapacity"]),
                "minimumScalingStepSize": int(scaling["minimumScalingStepSize"]),
                "maximumScalingStepSize": int(scaling["maximumScalingStepSize"]),
                "instanceWarmupPeriod": int(scaling["instanceWarmupPeriod"])},
            "managedTerminationProtection": asg["managedTerminationProtection"],
            "managedDraining": asg["managedDraining"],
        },
        "tags": _tags(inputs),
    }


# --- ELBv2 -----------------------------------------------------------------------------------

def create_load_balancer(inputs: Inputs, name: str, refs: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"Name": name, "Type": inputs["loadBalancerType"],
            "Scheme": "internal" if inputs.get("internal") else "internet-facing",
            "Subnets": list(_ref(refs, "Subnets", inputs["subnets"])),
            "SecurityGroups": list(_ref(refs, "SecurityGroups", inputs["securityGroups"])),
            "Tags": _tags(inputs, "Key", "Value")}


def load_balancer_attributes(inputs: Inputs) -> list[dict[str, str]]:
    logs = inputs.get("accessLogs") or {}
    attributes = {
        "idle_timeout.timeout_seconds": str(inputs["idleTimeout"]),
        "routing.http.drop_invalid_header_fields.enabled": _bool(inputs["dropInvalidHeaderFields"]),
        "routing.http.desync_mitigation_mode": inputs["desyncMitigationMode"],
        "deletion_protection.enabled": _bool(inputs.get("enableDeletionProtection", False)),
        "access_logs.s3.enabled": _bool(logs.get("enabled", False)),
        "access_logs.s3.bucket": str(logs.get("bucket", "")),
        "access_logs.s3.prefix": str(logs.get("prefix", "")),
    }
    return [{"Key": k, "Value": v} for k, v in sorted(attributes.items())]


def create_target_group(inputs: Inputs, name: str, refs: Mapping[str, str] | None = None) -> dict[str, Any]:
    hc = inputs["healthCheck"]
    return {
        "Name": name, "Protocol": inputs["protocol"], "ProtocolVersion": inputs["protocolVersion"],
        "Port": int(inputs["port"]), "VpcId": _ref(refs, "VpcId", inputs["vpcId"]),
        "TargetType": inputs["targetType"],
        "HealthCheckEnabled": bool(hc["enabled"]), "HealthCheckPath": hc["path"],
        "HealthCheckPort": hc["port"], "HealthCheckProtocol": hc["protocol"],
        "HealthCheckIntervalSeconds": int(hc["interval"]), "HealthCheckTimeoutSeconds": int(hc["timeout"]),
        "HealthyThresholdCount": int(hc["healthyThreshold"]),
        "UnhealthyThresholdCount": int(hc["unhealthyThreshold"]),
        "Matcher": {"HttpCode": hc["matcher"]},
        "Tags": _tags(inputs, "Key", "Value"),
    }


def target_group_attributes(inputs: Inputs) -> list[dict[str, str]]:
    return [{"Key": "deregistration_delay.timeout_seconds", "Value": str(inputs["deregistrationDelay"])},
            {"Key": "load_balancing.algorithm.type", "Value": inputs["loadBalancingAlgorithmType"]}]


def _action(action: Inputs, refs: Mapping[str, str] | None) -> dict[str, Any]:
    kind = action["type"]
    out: dict[str, Any] = {"Type": kind}
    if kind == "forward":
        out["TargetGroupArn"] = _ref(refs, "TargetGroupArn", action["targetGroupArn"])
    elif kind == "redirect":
        r = action["redirect"]
        out["RedirectConfig"] = {"Protocol": r["protocol"], "Port": r["port"], "StatusCode": r["statusCode"]}
    elif kind == "fixed-response":
        f = action["fixedResponse"]
        out["FixedResponseConfig"] = {"StatusCode": f["statusCode"], "ContentType": f["contentType"],
                                      "MessageBody": f["messageBody"]}
    return out


def create_listener(inputs: Inputs, refs: Mapping[str, str] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "LoadBalancerArn": _ref(refs, "LoadBalancerArn", inputs["loadBalancerArn"]),
        "Protocol": inputs["protocol"], "Port": int(inputs["port"]),
        "DefaultActions": [_action(a, refs) for a in inputs["defaultActions"]],
        "Tags": _tags(inputs, "Key", "Value"),
    }
    if inputs.get("sslPolicy"):
        request["SslPolicy"] = inputs["sslPolicy"]
    if inputs.get("certificateArn"):
        request["Certificates"] = [{"CertificateArn": _ref(refs, "CertificateArn", inputs["certificateArn"])}]
    return request


_CONDITIONS = {"hostHeader": ("host-header", "HostHeaderConfig"),
               "pathPattern": ("path-pattern", "PathPatternConfig"),
               "sourceIp": ("source-ip", "SourceIpConfig")}


def create_rule(inputs: Inputs, refs: Mapping[str, str] | None = None) -> dict[str, Any]:
    conditions = []
    for cond in inputs["conditions"]:
        for key, (field, config) in _CONDITIONS.items():
            if cond.get(key):
                conditions.append({"Field": field, config: {"Values": list(cond[key]["values"])}})
    request: dict[str, Any] = {
        "ListenerArn": _ref(refs, "ListenerArn", inputs["listenerArn"]),
        "Priority": int(inputs["priority"]),
        "Conditions": conditions,
        "Actions": [_action(a, refs) for a in inputs["actions"]],
        "Tags": _tags(inputs, "Key", "Value"),
    }
    transforms = [{"Type": t["type"], "UrlRewriteConfig": {"Rewrites": [
        {"Regex": t["urlRewriteConfig"]["rewrite"]["regex"],
         "Replace": t["urlRewriteConfig"]["rewrite"]["replace"]}]}}
        for t in inputs.get("transforms") or [] if t["type"] == "url-rewrite"]
    if transforms:
        request["Transforms"] = transforms
    return request


# --- Application Auto Scaling ----------------------------------------------------------------

def register_scalable_target(inputs: Inputs) -> dict[str, Any]:
    return {"ServiceNamespace": inputs["serviceNamespace"], "ResourceId": inputs["resourceId"],
            "ScalableDimension": inputs["scalableDimension"],
            "MinCapacity": int(inputs["minCapacity"]), "MaxCapacity": int(inputs["maxCapacity"])}


def put_scaling_policy(inputs: Inputs, name: str) -> dict[str, Any]:
    config = inputs["targetTrackingScalingPolicyConfiguration"]
    metric = config["predefinedMetricSpecification"]
    spec: dict[str, Any] = {"PredefinedMetricType": metric["predefinedMetricType"]}
    if metric.get("resourceLabel"):
        spec["ResourceLabel"] = metric["resourceLabel"]
    return {
        "PolicyName": name, "ServiceNamespace": inputs["serviceNamespace"],
        "ResourceId": inputs["resourceId"], "ScalableDimension": inputs["scalableDimension"],
        "PolicyType": inputs["policyType"],
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(config["targetValue"]),
            "PredefinedMetricSpecification": spec,
            "ScaleInCooldown": int(config["scaleInCooldown"]),
            "ScaleOutCooldown": int(config["scaleOutCooldown"]),
        },
    }


def _bool(value: Any) -> str:
    return "true" if value else "false"
