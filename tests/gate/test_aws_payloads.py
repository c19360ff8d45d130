"""botocore's own parameter validation of the ECS / ELBv2 / Application Auto Scaling requests
the stacks would send, rebuilt from the recorded inputs by `tests/support/aws_requests.py`."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pulumi
import pulumi_aws as aws
import pytest
from botocore.validate import ParamValidator
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from mlinfra.engine.recorder import RecordingMocks, RecordingMonitor
from tests.gate.conftest import ECS_STACKS, EKS_STACKS, mlinfra
from tests.support.aws_requests import CHECKED_PREFIXES, ApiCall, api_calls

_SESSION = botocore.session.get_session()


def botocore_errors(call: ApiCall) -> str:
    shape = _SESSION.get_service_model(call.service).operation_model(call.operation).input_shape
    report = ParamValidator().validate(call.params, shape)
    return report.generate_report() if report.has_errors() else ""


def calls_for(resources: list[dict[str, Any]]) -> tuple[list[tuple[str, ApiCall]], list[str]]:
    calls, unchecked = [], []
    for res in resources:
        if not res["type"].startswith(CHECKED_PREFIXES):
            continue
        mapped = api_calls(res["type"], res["inputs"], res["name"])
        if mapped is None:
            unchecked.append(res["type"])
            continue
        calls += [(res["name"], call) for call in mapped]
    return calls, sorted(set(unchecked))


@pytest.mark.slow
@pytest.mark.parametrize("stack", ECS_STACKS)
def test_ecs_stack_payloads_pass_botocore_validation(stack: str) -> None:
    result = mlinfra("plan", "--stack", stack, "--format", "json")
    assert result.returncode == 0, result.stderr
    calls, unchecked = calls_for(json.loads(result.stdout)["resources"])
    operations = sorted({f"{c.service}.{c.operation}" for _, c in calls})
    print(f"\n{stack}: {len(calls)} AWS API payloads checked: {', '.join(operations)}")
    # Every ECS / ELBv2 / Application Auto Scaling resource of the stack has a request shape.
    assert not unchecked
    assert {
        "ecs.CreateCluster",
        "ecs.RegisterTaskDefinition",
        "ecs.CreateService",
        "elbv2.CreateLoadBalancer",
        "elbv2.CreateTargetGroup",
        "elbv2.CreateListener",
        "elbv2.CreateRule",
        "application-autoscaling.RegisterScalableTarget",
        "application-autoscaling.PutScalingPolicy",
    } <= set(operations)
    errors = [f"{name} {c.service}.{c.operation}: {err}" for name, c in calls if (err := botocore_errors(c))]
    assert not errors


@pytest.mark.slow
@pytest.mark.parametrize("stack", EKS_STACKS)
def test_eks_stack_payloads_pass_botocore_validation(stack: str) -> None:
    result = mlinfra("plan", "--stack", stack, "--format", "json")
    assert result.returncode == 0, result.stderr
    calls, unchecked = calls_for(json.loads(result.stdout)["resources"])
    print(f"\n{stack}: {len(calls)} AWS API payloads checked")
    assert not unchecked
    if not calls:
        pytest.skip(
            f"EKS stack {stack} declares no ECS, ELBv2 or Application Auto Scaling resources "
            "(its load balancers come from the AWS Load Balancer Controller)"
        )
    errors = [f"{name} {c.service}.{c.operation}: {err}" for name, c in calls if (err := botocore_errors(c))]
    assert not errors


def _record(program: Any) -> list[dict[str, Any]]:
    """Run `program` under the recording mocks the offline engine uses; recorded resources as plan dicts."""
    mocks = RecordingMocks("us-east-1")
    monitor = RecordingMonitor(mocks)
    pulumi_settings.reset_options(project="gate", stack="test")
    pulumi.runtime.set_mocks(mocks, project="gate", stack="test", preview=False, monitor=monitor)
    try:
        _sync_await(run_pulumi_func(program))
    finally:
        pulumi_settings.reset_options()
    return [{"type": r.type, "name": r.name, "inputs": r.inputs} for r in monitor.recorded]


def _fargate_service() -> None:
    container = [
        {
            "name": "model",
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m@sha256:" + "a" * 64,
            "essential": True,
            "readonlyRootFilesystem": True,
            "user": "10001:10001",
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "secrets": [{"name": "API_KEYS", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/mlinfra/m"}},
            "stopTimeout": 30,
        }
    ]
    task = aws.ecs.TaskDefinition(
        "m-task",
        family="m",
        cpu="1024",
        memory="2048",
        network_mode="awsvpc",
        requires_compatibilities=["FARGATE"],
        container_definitions=json.dumps(container),
        execution_role_arn="arn:aws:iam::123456789012:role/exec",
        task_role_arn="arn:aws:iam::123456789012:role/task",
        runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
        ephemeral_storage={"size_in_gib": 30},
        volumes=[{"name": "tmp"}],
        tags={"managed-by": "mlinfra"},
    )
    lb = aws.lb.LoadBalancer(
        "m-alb",
        internal=True,
        load_balancer_type="application",
        subnets=["subnet-1", "subnet-2"],
        security_groups=["sg-1"],
        drop_invalid_header_fields=True,
        idle_timeout=60,
        enable_deletion_protection=True,
    )
    tg = aws.lb.TargetGroup(
        "m-tg",
        port=8080,
        protocol="HTTP",
        target_type="ip",
        vpc_id="vpc-1",
        deregistration_delay=15,
        health_check={
            "path": "/ready",
            "matcher": "200",
            "interval": 10,
            "timeout": 5,
            "healthy_threshold": 2,
            "unhealthy_threshold": 3,
        },
    )
    aws.lb.Listener(
        "m-https",
        load_balancer_arn=lb.arn,
        port=443,
        protocol="HTTPS",
        ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/x",
        default_actions=[{"type": "forward", "target_group_arn": tg.arn}],
    )
    aws.lb.Listener(
        "m-http",
        load_balancer_arn=lb.arn,
        port=80,
        protocol="HTTP",
        default_actions=[
            {"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}}
        ],
    )
    aws.ecs.Service(
        "m-svc",
        name="m",
        cluster="arn:aws:ecs:us-east-1:123456789012:cluster/c",
        task_definition=task.arn,
        desired_count=2,
        launch_type="FARGATE",
        deployment_circuit_breaker={"enable": True, "rollback": True},
        deployment_minimum_healthy_percent=100,
        deployment_maximum_percent=200,
        health_check_grace_period_seconds=120,
        network_configuration={"subnets": ["subnet-1"], "security_groups": ["sg-1"], "assign_public_ip": False},
        load_balancers=[{"target_group_arn": tg.arn, "container_name": "model", "container_port": 8080}],
    )
    target = aws.appautoscaling.Target(
        "m-scale",
        min_capacity=2,
        max_capacity=8,
        resource_id="service/c/m",
        scalable_dimension="ecs:service:DesiredCount",
        service_namespace="ecs",
    )
    aws.appautoscaling.Policy(
        "m-cpu",
        policy_type="TargetTrackingScaling",
        resource_id=target.resource_id,
        scalable_dimension=target.scalable_dimension,
        service_namespace="ecs",
        target_tracking_scaling_policy_configuration={
            "target_value": 60,
            "scale_in_cooldown": 300,
            "scale_out_cooldown": 60,
            "predefined_metric_specification": {"predefined_metric_type": "ECSServiceAverageCPUUtilization"},
        },
    )


def test_mapping_covers_a_complete_fargate_service() -> None:
    calls, unchecked = calls_for(_record(_fargate_service))
    assert not unchecked
    operations = sorted({f"{c.service}.{c.operation}" for _, c in calls})
    assert operations == [
        "application-autoscaling.PutScalingPolicy",
        "application-autoscaling.RegisterScalableTarget",
        "ecs.CreateService",
        "ecs.RegisterTaskDefinition",
        "elbv2.CreateListener",
        "elbv2.CreateLoadBalancer",
        "elbv2.CreateTargetGroup",
        "elbv2.ModifyLoadBalancerAttributes",
        "elbv2.ModifyTargetGroupAttributes",
    ]
    errors = [f"{name} {c.operation}: {err}" for name, c in calls if (err := botocore_errors(c))]
    assert not errors
    task = next(c.params for _, c in calls if c.operation == "RegisterTaskDefinition")
    assert task["containerDefinitions"][0]["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}]
    assert task["ephemeralStorage"] == {"sizeInGiB": 30}


def test_a_malformed_payload_is_reported() -> None:
    calls, _ = calls_for(_record(_fargate_service))
    service = next(c for _, c in calls if c.operation == "CreateService")
    broken = ApiCall(service.service, service.operation, {**service.params, "launchType": 7})
    assert "launchType" in botocore_errors(broken)
