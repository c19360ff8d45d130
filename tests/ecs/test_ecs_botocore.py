"""Every ECS / ELBv2 / Application Auto Scaling request a plan implies passes botocore's own
parameter validation against the service model's input shape."""

from __future__ import annotations

import copy
import json
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from .conftest import Plan
from .requests import plan_requests

SESSION = botocore.session.get_session()


def input_shape(service: str, operation: str) -> Any:
    return SESSION.get_service_model(service).operation_model(operation).input_shape


def test_every_request_is_valid_for_botocore(dev: Plan) -> None:
    requests = plan_requests(dev)
    operations = {op for _, op, _, _ in requests.items}
    assert operations == {
        "CreateCluster",
        "CreateCapacityProvider",
        "PutClusterCapacityProviders",
        "CreateLoadBalancer",
        "ModifyLoadBalancerAttributes",
        "CreateTargetGroup",
        "ModifyTargetGroupAttributes",
        "CreateListener",
        "CreateRule",
        "RegisterTaskDefinition",
        "CreateService",
        "RegisterScalableTarget",
        "PutScalingPolicy",
    }
    for service, operation, _name, params in requests.items:
        validate_parameters(params, input_shape(service, operation))


def test_variant_with_public_alb_and_path_routing_is_valid(prod_public: Plan) -> None:
    requests = plan_requests(prod_public)
    rules = dict(requests.of("CreateRule"))
    assert rules["search-ranker-rule"]["Transforms"] == [
        {
            "Type": "url-rewrite",
            "UrlRewriteConfig": {"Rewrites": [{"Regex": "^/search-ranker/(.*)$", "Replace": "/$1"}]},
        }
    ]
    assert {"Field": "source-ip", "SourceIpConfig": {"Values": ["203.0.113.0/24"]}} in rules["fraud-detector-rule"][
        "Conditions"
    ]
    for service, operation, _name, params in requests.items:
        validate_parameters(params, input_shape(service, operation))


def test_every_container_definition_list_is_valid(dev: Plan, prod_public: Plan) -> None:
    shape = SESSION.get_service_model("ecs").shape_for("ContainerDefinitions")
    lists = [
        json.loads(r.inputs["containerDefinitions"])
        for plan in (dev, prod_public)
        for r in plan.of_type("aws:ecs/taskDefinition:TaskDefinition")
    ]
    assert len(lists) == 4
    for definitions in lists:
        validate_parameters(definitions, shape)


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("containerDefinitions", 0, "readonlyRootFilesystem"), "yes"),  # must be a boolean
        (("containerDefinitions", 0, "stopTimeout"), "40"),  # must be an integer
        (("containerDefinitions", 0, "secrets", 0, "valueFrom"), None),  # required
        (("containerDefinitions", 0, "healthCheck", "command"), "CMD"),  # must be a list
    ],
)
def test_validation_really_catches_broken_task_definitions(dev: Plan, path: tuple[Any, ...], bad: Any) -> None:
    """The check above would be worthless if botocore accepted anything: prove it does not."""
    request = dict(plan_requests(dev).of("RegisterTaskDefinition"))["fraud-detector-task"]
    broken = copy.deepcopy(request)
    target: Any = broken
    for key in path[:-1]:
        target = target[key]
    if bad is None:
        del target[path[-1]]
    else:
        target[path[-1]] = bad
    with pytest.raises(ParamValidationError):
        validate_parameters(broken, input_shape("ecs", "RegisterTaskDefinition"))


def test_service_request_carries_the_safe_deployment_settings(dev: Plan) -> None:
    services = dict(plan_requests(dev).of("CreateService"))
    fraud = services["fraud-detector-service"]
    assert fraud["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    assert fraud["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    ranker = services["search-ranker-service"]
    assert ranker["placementStrategy"][0] == {"type": "spread", "field": "attribute:ecs.availability-zone"}
