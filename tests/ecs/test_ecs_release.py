"""ECS releases: the native canary deployment a prod service gets, its CloudWatch alarms on
both target groups, and ECS's own rollback, held against botocore's service model (the pinned
boto3's) and sent to a moto server."""

from __future__ import annotations

import copy
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from mlinfra.components.ecs_release import LOAD_BALANCER_ROLE_POLICY
from mlinfra.spec.ecs import native_deployment, release_minutes
from mlinfra.spec.rollout import Rollout

from .conftest import Plan
from .requests import plan_requests
from .test_ecs_moto import client
from .test_ecs_moto import moto_endpoint as moto_endpoint  # the module-scoped server fixture

SESSION = botocore.session.get_session()


def shape(service: str, operation: str) -> Any:
    return SESSION.get_service_model(service).operation_model(operation).input_shape


def test_dev_keeps_rolling_with_the_circuit_breaker(dev: Plan) -> None:
    services = dict(plan_requests(dev).of("CreateService"))
    for request in services.values():
        assert "strategy" not in request["deploymentConfiguration"]
        assert request["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert not plan_requests(dev).of("PutMetricAlarm")


def test_prod_service_is_a_native_canary_judged_by_alarms(prod_public: Plan) -> None:
    requests = plan_requests(prod_public)
    service = dict(requests.of("CreateService"))["fraud-detector-service"]
    config = service["deploymentConfiguration"]
    assert config["strategy"] == "CANARY"
    assert config["canaryConfiguration"] == {"canaryPercent": 10, "canaryBakeTimeInMinutes": 5}
    assert config["bakeTimeInMinutes"] == 5
    assert "deploymentCircuitBreaker" not in config  # rolling deployments only
    alarms = dict(requests.of("PutMetricAlarm"))
    assert config["alarms"] == {
        "alarmNames": sorted(a["AlarmName"] for n, a in alarms.items() if n.startswith("fraud-detector-")),
        "enable": True,
        "rollback": True,
    }
    [lb] = service["loadBalancers"]
    advanced = lb["advancedConfiguration"]
    assert advanced["alternateTargetGroupArn"].endswith("fraud-detector-tg2")
    assert advanced["productionListenerRule"].endswith("fraud-detector-rule")
    validate_parameters(service, shape("ecs", "CreateService"))
    role = prod_public.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "fraud-detector-release-managed")
    assert role.inputs["policyArn"] == LOAD_BALANCER_ROLE_POLICY


def test_alarms_watch_each_target_group_with_the_spec_thresholds(prod_public: Plan) -> None:
    alarms = dict(plan_requests(prod_public).of("PutMetricAlarm"))
    groups = {r.name for r in prod_public.of_type("aws:lb/targetGroup:TargetGroup")}
    assert {"fraud-detector-tg", "fraud-detector-tg2"} <= groups
    ratio = alarms["fraud-detector-green-5xx"]
    assert ratio["Threshold"] == Rollout().max_error_ratio
    metrics = {m["Id"]: m for m in ratio["Metrics"]}
    assert metrics["errors"]["MetricStat"]["Metric"]["MetricName"] == "HTTPCode_Target_5XX_Count"
    assert metrics["ratio"]["ReturnData"] is True
    dims = {d["Name"]: d["Value"] for d in metrics["errors"]["MetricStat"]["Metric"]["Dimensions"]}
    assert "fraud-detector-tg2" in dims["TargetGroup"]
    latency = alarms["fraud-detector-blue-p99"]
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("TargetResponseTime", "p99")
    assert latency["Threshold"] == Rollout().max_p99_seconds
    assert "fraud-detector-tg-" in {d["Name"]: d["Value"] for d in latency["Dimensions"]}["TargetGroup"]
    for request in alarms.values():
        validate_parameters(request, shape("cloudwatch", "PutMetricAlarm"))


def test_ecs_owns_the_weights_after_a_release(prod_public: Plan) -> None:
    rule = prod_public.one("aws:lb/listenerRule:ListenerRule", "fraud-detector-rule")
    service = prod_public.one("aws:ecs/service:Service", "fraud-detector-service")
    assert "actions" in (rule.options.get("ignoreChanges") or [])
    assert "loadBalancers" in (service.options.get("ignoreChanges") or [])


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("deploymentConfiguration", "canaryConfiguration", "canaryPercent"), "ten"),
        (("deploymentConfiguration", "canaryConfiguration", "canaryBakeTimeInMinutes"), "5"),
        (("deploymentConfiguration", "alarms", "rollback"), "yes"),
    ],
)
def test_botocore_rejects_a_broken_release_configuration(prod_public: Plan, path: tuple[str, ...], bad: Any) -> None:
    service = copy.deepcopy(dict(plan_requests(prod_public).of("CreateService"))["fraud-detector-service"])
    target: Any = service
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(ParamValidationError):
        validate_parameters(service, shape("ecs", "CreateService"))


@pytest.mark.parametrize(
    ("steps", "strategy", "percent"),
    [((10, 100), "CANARY", 10.0), ((25, 50, 75, 100), "LINEAR", 25.0), ((100,), "BLUE_GREEN", None)],
)
def test_steps_map_to_the_ecs_strategy_that_takes_them_exactly(
    steps: tuple[int, ...], strategy: str, percent: float | None
) -> None:
    native = native_deployment(Rollout(steps=steps))
    assert native is not None
    assert (native.strategy, native.percent) == (strategy, percent)


def test_steps_ecs_cannot_take_have_no_strategy() -> None:
    assert native_deployment(Rollout(steps=(10, 50, 100))) is None
    assert native_deployment(Rollout(steps=(2, 4, 6, 100))) is None  # LINEAR steps are 3% or more
    assert native_deployment(Rollout(strategy="rolling")).strategy == "ROLLING"  # type: ignore[union-attr]


def test_pulumi_waits_through_the_bakes() -> None:
    assert release_minutes(Rollout(steps=(10, 100), bake_minutes=5)) == 10
    assert release_minutes(Rollout(steps=(25, 50, 75, 100), bake_minutes=4)) == 16
    assert release_minutes(Rollout(strategy="rolling")) == 0


def test_alarms_and_release_service_are_accepted_by_moto(prod_public: Plan, moto_endpoint: str) -> None:
    cloudwatch, ecs, elb, ec2 = (client(moto_endpoint, s) for s in ("cloudwatch", "ecs", "elbv2", "ec2"))
    vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.41.0.0/20", AvailabilityZone="us-east-1a")["Subnet"]
    requests = plan_requests(prod_public)
    for _name, params in requests.of("PutMetricAlarm"):
        cloudwatch.put_metric_alarm(**params)
    described = cloudwatch.describe_alarms(AlarmNamePrefix="mlinfra-dev-fraud")["MetricAlarms"]
    stored = {a["AlarmName"]: a for a in described}
    service_request = dict(requests.of("CreateService"))["fraud-detector-service"]
    assert sorted(stored) == service_request["deploymentConfiguration"]["alarms"]["alarmNames"]
    assert stored["mlinfra-dev-fraud-detector-blue-p99"]["ExtendedStatistic"] == "p99"

    groups = {}
    for name, params in requests.of("CreateTargetGroup"):
        if name.startswith("fraud-detector-"):
            groups[name] = elb.create_target_group(**{**params, "VpcId": vpc})["TargetGroups"][0]["TargetGroupArn"]
    cluster = ecs.create_cluster(clusterName="release")["cluster"]["clusterArn"]
    task = dict(requests.of("RegisterTaskDefinition"))["fraud-detector-task"]
    role = "arn:aws:iam::123456789012:role/t"
    task_arn = ecs.register_task_definition(**{**task, "taskRoleArn": role, "executionRoleArn": role})[
        "taskDefinition"
    ]["taskDefinitionArn"]
    refs = {
        "fraud-detector-service": {
            "cluster": cluster,
            "taskDefinition": task_arn,
            "subnets": [subnet["SubnetId"]],
            "securityGroups": [],
            "targetGroupArn": groups["fraud-detector-tg"],
            "alternateTargetGroupArn": groups["fraud-detector-tg2"],
        }
    }
    service = dict(plan_requests(prod_public, refs).of("CreateService"))["fraud-detector-service"]
    service.pop("capacityProviderStrategy")
    created = ecs.create_service(**service)["service"]
    assert created["serviceName"] == "fraud-detector"
    assert created["loadBalancers"][0]["targetGroupArn"] == groups["fraud-detector-tg"]
