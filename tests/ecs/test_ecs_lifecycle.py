"""What `pulumi up` and `pulumi destroy` do with an ECS stack: rollouts that fail the update,
counts that follow the config, pinned GPU hosts, names scoped to the project, clean destroy
outside prod and protection in prod (asserted on the recorded resource options)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlinfra.engine.runner import run_offline
from mlinfra.spec.ecs import deployment_timeout_seconds
from mlinfra.spec.service import ServiceSpec

from .conftest import Plan, copy_project

SERVICE = "aws:ecs/service:Service"
ASG = "aws:autoscaling/group:Group"
SECRET = "aws:secretsmanager/secret:Secret"


def test_up_waits_for_the_rollout_with_a_timeout_sized_from_the_model_load(dev: Plan) -> None:
    for service in ("fraud-detector", "search-ranker"):
        assert dev.inputs(SERVICE, f"{service}-service")["waitForSteadyState"] is True
    ranker = dev.one(SERVICE, "search-ranker-service").options["customTimeouts"]
    fraud = dev.one(SERVICE, "fraud-detector-service").options["customTimeouts"]
    assert ranker == {"create": "22m", "update": "22m"}  # GPU: host launch + 120 s load, two waves
    assert fraud == {"create": "9m", "update": "9m"}


def test_timeout_grows_with_load_time_and_gpu_waves() -> None:
    cpu = ServiceSpec(name="a", model_uri="s3://bucket/m.onnx", expected_load_seconds=60)
    slow = ServiceSpec(name="a", model_uri="s3://bucket/m.onnx", expected_load_seconds=600)
    gpu = ServiceSpec(name="a", model_uri="s3://bucket/m.onnx", gpu=True, replicas=4, expected_load_seconds=60)
    assert deployment_timeout_seconds(slow) - deployment_timeout_seconds(cpu) == 2 * 540
    # GPU tasks are replaced one at a time: one wave per replica, plus one for the breaker.
    assert deployment_timeout_seconds(gpu) == 5 * (180 + 60 + 20 + 35 + 300)


def test_desired_count_is_ignored_only_where_an_autoscaler_owns_it(dev: Plan) -> None:
    assert dev.one(SERVICE, "fraud-detector-service").options["ignoreChanges"] == ["desiredCount"]
    assert "ignoreChanges" not in dev.one(SERVICE, "search-ranker-service").options
    assert dev.inputs(SERVICE, "search-ranker-service")["desiredCount"] == 1


def test_gpu_hosts_run_the_pinned_ami_and_refresh_when_it_changes(dev: Plan) -> None:
    template = dev.inputs("aws:ec2/launchTemplate:LaunchTemplate", "platform-ecs-gpu-a10g-lt")
    assert template["imageId"] == "ami-0123456789abcdef0"  # stacks/Pulumi.dev.yaml mlinfra:ecs.gpuAmiId
    group = dev.inputs(ASG, "platform-ecs-gpu-a10g-asg")
    assert group["instanceRefresh"] == {
        "strategy": "Rolling",
        "preferences": {
            "instanceWarmup": "300",
            "maxHealthyPercentage": 200,
            "minHealthyPercentage": 100,
            "scaleInProtectedInstances": "Refresh",
            "skipMatching": True,
        },
    }
    assert group["protectFromScaleIn"] is True
    provider = dev.inputs("aws:ecs/capacityProvider:CapacityProvider", "platform-ecs-gpu-a10g-provider")
    assert provider["autoScalingGroupProvider"]["managedTerminationProtection"] == "ENABLED"


def test_no_ssm_lookup_can_change_the_hosts_between_runs() -> None:
    source = (Path(__file__).resolve().parents[2] / "mlinfra" / "components" / "ecs_cluster.py").read_text()
    assert "get_parameter" not in source


def test_gpu_hosts_go_before_the_cluster_on_destroy(dev: Plan) -> None:
    cluster = dev.one("aws:ecs/cluster:Cluster", "platform-ecs-cluster")
    assert cluster.urn in dev.one(ASG, "platform-ecs-gpu-a10g-asg").dependencies


def test_physical_names_carry_the_project(tmp_path: Path, edited_project: Callable[..., Path]) -> None:
    root = edited_project(lambda config: None)
    pulumi_yaml = root / "Pulumi.yaml"
    pulumi_yaml.write_text(pulumi_yaml.read_text().replace("name: mlinfra", "name: payments", 1))
    plan = Plan(run_offline(root, "dev"))
    assert plan.inputs("aws:ecs/cluster:Cluster", "platform-ecs-cluster")["name"] == "payments-dev"
    assert (
        plan.inputs("aws:ecs/capacityProvider:CapacityProvider", "platform-ecs-gpu-a10g-provider")["name"]
        == "payments-dev-gpu-a10g"
    )
    assert (
        plan.inputs("aws:cloudwatch/logGroup:LogGroup", "fraud-detector-logs")["name"] == "/payments/dev/fraud-detector"
    )
    assert (
        plan.inputs("aws:ecs/taskDefinition:TaskDefinition", "fraud-detector-task")["family"]
        == "payments-dev-fraud-detector"
    )
    assert plan.inputs(SECRET, "platform-secret-fraud-api-key")["name"] == "payments/dev/fraud-api-key"
    user_data = plan.inputs("aws:ec2/launchTemplate:LaunchTemplate", "platform-ecs-gpu-a10g-lt")["userData"]
    assert "echo ECS_CLUSTER=payments-dev >>" in base64.b64decode(user_data).decode()


def test_fixed_names_are_deleted_before_they_are_replaced(dev: Plan) -> None:
    for typ, name in (
        ("aws:ecs/cluster:Cluster", "platform-ecs-cluster"),
        ("aws:ecs/capacityProvider:CapacityProvider", "platform-ecs-gpu-a10g-provider"),
        ("aws:cloudwatch/logGroup:LogGroup", "fraud-detector-logs"),
        (SECRET, "platform-secret-fraud-api-key"),
    ):
        assert dev.one(typ, name).options.get("deleteBeforeReplace") is True, name


def test_non_prod_destroys_cleanly(dev: Plan) -> None:
    assert dev.inputs(SECRET, "platform-secret-fraud-api-key")["recoveryWindowInDays"] == 0
    assert dev.inputs("aws:s3/bucket:Bucket", "platform-alb-logs-bucket")["forceDestroy"] is True
    for repo in dev.of_type("aws:ecr/repository:Repository"):
        assert repo.inputs["forceDelete"] is True
    assert dev.inputs(ASG, "platform-ecs-gpu-a10g-asg")["forceDelete"] is True
    assert [r.name for r in dev.resources if r.options.get("protect")] == []


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    root = copy_project(tmp_path_factory.mktemp("prod-lifecycle"))
    path = root / "stacks" / "Pulumi.dev.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["mlinfra:tier"] = "prod"
    path.write_text(yaml.safe_dump(doc))
    return Plan(run_offline(root, "dev"))


def test_prod_is_protected_and_keeps_its_recovery_windows(prod: Plan) -> None:
    protected = {r.type for r in prod.resources if r.options.get("protect")}
    assert {
        "aws:ecs/cluster:Cluster",
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        SECRET,
        "aws:ecr/repository:Repository",
    } <= protected
    assert prod.inputs(SECRET, "platform-secret-fraud-api-key")["recoveryWindowInDays"] == 30
    assert prod.inputs("aws:s3/bucket:Bucket", "platform-alb-logs-bucket")["forceDestroy"] is False
    assert prod.inputs(ASG, "platform-ecs-gpu-a10g-asg")["forceDelete"] is False
    for key in prod.of_type("aws:kms/key:Key"):
        assert key.inputs["deletionWindowInDays"] == 30


def test_customer_kms_keys_of_existing_secrets_are_decryptable_via_secrets_manager(
    edited_project: Callable[..., Path],
) -> None:
    key = "arn:aws:kms:us-east-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    def edit(config: dict[str, Any]) -> None:
        config["mlinfra:secretArns"] = {
            "fraud-api-key": "arn:aws:secretsmanager:us-east-1:210987654321:secret:central/fraud-AbCdEf"
        }
        del config["mlinfra:secrets"]
        config["mlinfra:ecs"]["secretsKmsKeyArns"] = [key]

    plan = Plan(run_offline(edited_project(edit), "dev"))
    policy = json.loads(plan.inputs("aws:iam/rolePolicy:RolePolicy", "fraud-detector-execution-secrets")["policy"])
    decrypt = [s for s in policy["Statement"] if s["Action"] == ["kms:Decrypt"]]
    assert decrypt == [
        {
            "Sid": "DecryptSecrets",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [key],
            "Condition": {"StringEquals": {"kms:ViaService": ["secretsmanager.us-east-1.amazonaws.com"]}},
        }
    ]


def test_load_balancers_wait_for_the_log_bucket_policy(dev: Plan) -> None:
    """ELB test-writes to the bucket when logging is enabled: the policy must exist first."""
    policy = dev.one("aws:s3/bucketPolicy:BucketPolicy", "platform-alb-logs-policy")
    assert policy.urn in dev.one("aws:lb/loadBalancer:LoadBalancer", "platform-internal-alb").dependencies
