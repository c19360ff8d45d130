"""What an ECS stack asks AWS for, asserted on the recorded resource inputs (CDK-assertions style)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from mlinfra.engine.recorder import _short_hash
from mlinfra.monitoring.alerts import rule_groups
from mlinfra.spec.ecs import AMI_PARAMETER_GPU, listener_rule_priority

from .conftest import Plan

TASK = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
RULE = "aws:lb/listenerRule:ListenerRule"
TG = "aws:lb/targetGroup:TargetGroup"

ACCEPTANCE_TYPES = [
    "aws:ecs/cluster:Cluster",
    TASK,
    SERVICE,
    "aws:ecs/capacityProvider:CapacityProvider",
    "aws:autoscaling/group:Group",
    LB,
    LISTENER,
    TG,
    "aws:appautoscaling/policy:Policy",
    "aws:secretsmanager/secret:Secret",
    "aws:amp/workspace:Workspace",
]


def containers(plan: Plan, service: str) -> dict[str, dict[str, Any]]:
    defs = json.loads(plan.inputs(TASK, f"{service}-task")["containerDefinitions"])
    return {c["name"]: c for c in defs}


def test_plan_has_every_resource_type_the_issue_lists(dev: Plan) -> None:
    types = {r.type for r in dev.resources}
    assert [t for t in ACCEPTANCE_TYPES if t not in types] == []
    assert dev.run.outputs["cluster_name"] == "mlinfra-dev"
    assert dev.run.outputs["endpoints"] == {
        "fraud-detector": "https://fraud-detector.dev.ml.acme.example",
        "search-ranker": "https://search-ranker.dev.ml.acme.example",
    }


def test_components_follow_the_naming_and_parent_conventions(dev: Plan) -> None:
    by_urn = {r.urn: r for r in dev.resources}
    service = dev.one("mlinfra:index:EcsModelService", "fraud-detector")
    for res in dev.resources:
        if res.name.startswith("fraud-detector-") and res.type != "mlinfra:index:ServiceImage":
            parent = by_urn[res.parent]
            assert parent.urn in (service.urn, dev.one("mlinfra:index:ServiceImage", "fraud-detector").urn)
    assert (
        dev.one("mlinfra:index:EcsCluster", "platform-ecs").parent
        == dev.one("mlinfra:index:EcsPlatform", "platform").urn
    )


def test_cluster_has_container_insights_and_fargate_plus_gpu_capacity(dev: Plan) -> None:
    cluster = dev.inputs("aws:ecs/cluster:Cluster", "platform-ecs-cluster")
    assert cluster["name"] == "mlinfra-dev"
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enhanced"}]
    providers = dev.inputs("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders", "platform-ecs-capacity")
    assert providers["capacityProviders"] == ["FARGATE", "mlinfra-dev-gpu-a10g"]
    assert providers["defaultCapacityProviderStrategies"] == [{"base": 0, "capacityProvider": "FARGATE", "weight": 1}]


def test_gpu_capacity_provider_is_managed_and_protected(dev: Plan) -> None:
    provider = dev.inputs("aws:ecs/capacityProvider:CapacityProvider", "platform-ecs-gpu-a10g-provider")
    asg_provider = provider["autoScalingGroupProvider"]
    assert asg_provider["managedTerminationProtection"] == "ENABLED"
    assert asg_provider["managedScaling"]["status"] == "ENABLED"
    assert asg_provider["managedScaling"]["targetCapacity"] == 100
    group = dev.inputs("aws:autoscaling/group:Group", "platform-ecs-gpu-a10g-asg")
    assert group["protectFromScaleIn"] is True  # required by managed termination protection
    # The private subnets' ids, as the offline engine spells EC2 ids (subnet-<hash of type and name>).
    subnet = "aws:ec2/subnet:Subnet"
    expected = [
        f"subnet-{_short_hash(subnet, n)}" for n in ("platform-network-private-a", "platform-network-private-b")
    ]
    assert group["vpcZoneIdentifiers"] == expected
    assert [o["instanceType"] for o in group["mixedInstancesPolicy"]["launchTemplate"]["overrides"]] == [
        "g5.xlarge",
        "g5.2xlarge",
    ]
    assert {"key": "AmazonECSManaged", "propagateAtLaunch": True, "value": "true"} in group["tags"]


def test_gpu_hosts_use_the_ecs_gpu_ami_with_imdsv2_hop_limit_one(dev: Plan) -> None:
    template = dev.inputs("aws:ec2/launchTemplate:LaunchTemplate", "platform-ecs-gpu-a10g-lt")
    assert template["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpPutResponseHopLimit": 1,
        "httpTokens": "required",
    }
    assert template["imageId"] == "ami-0123456789abcdef0"  # what the SSM parameter mock returns
    assert AMI_PARAMETER_GPU == "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
    import base64

    user_data = base64.b64decode(template["userData"]).decode()
    assert "ECS_CLUSTER=mlinfra-dev" in user_data
    assert "ECS_ENABLE_GPU_SUPPORT=true" in user_data
    assert "ECS_AWSVPC_BLOCK_IMDS=true" in user_data
    assert template["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"


def test_model_container_is_hardened(dev: Plan) -> None:
    for service in ("fraud-detector", "search-ranker"):
        model = containers(dev, service)["model"]
        assert model["user"] == "10001:10001"
        assert model["readonlyRootFilesystem"] is True
        assert model["privileged"] is False
        assert model["linuxParameters"]["capabilities"] == {"drop": ["ALL"]}
        assert model["mountPoints"] == [{"containerPath": "/tmp", "readOnly": False, "sourceVolume": "scratch"}]
        assert model["healthCheck"]["command"][:2] == ["CMD", "python"]
        assert "/health" in model["healthCheck"]["command"][-1]
        assert model["logConfiguration"]["logDriver"] == "awslogs"
        assert model["logConfiguration"]["options"]["awslogs-group"] == f"/mlinfra/dev/{service}"
        assert model["image"].startswith("123456789012.dkr.ecr.us-east-1.amazonaws.com/")
        assert "@sha256:" in model["image"]  # pinned by digest, never a tag
        env = {e["name"] for e in model["environment"]}
        assert "MLINFRA_SECRETS_DIR" not in env  # secrets are env values on ECS, not files


def test_secrets_are_references_never_values(dev: Plan) -> None:
    secret = dev.inputs("aws:secretsmanager/secret:Secret", "platform-secret-fraud-api-key")
    assert secret["name"] == "mlinfra/dev/fraud-api-key"
    assert secret["kmsKeyId"].startswith("arn:aws:kms:")
    version = dev.inputs("aws:secretsmanager/secretVersion:SecretVersion", "platform-secret-fraud-api-key")
    assert version["secretString"] == "[secret]"
    model = containers(dev, "fraud-detector")["model"]
    assert model["secrets"] == [
        {
            "name": "MLINFRA_SECRET_FRAUD_API_KEY",
            "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
            "platform-secret-fraud-api-key-73f9d5d1-73f9d5",
        }
    ]
    assert "[secret]" not in json.dumps(containers(dev, "fraud-detector"))


def test_task_and_execution_roles_are_separate_and_least_privilege(dev: Plan) -> None:
    task = dev.inputs(TASK, "fraud-detector-task")
    assert task["taskRoleArn"] != task["executionRoleArn"]
    trust = json.loads(dev.inputs(ROLE, "fraud-detector-task-role")["assumeRolePolicy"])
    statement = trust["Statement"][0]
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    task_policy = json.loads(dev.inputs(ROLE_POLICY, "fraud-detector-task-policy")["policy"])
    # The workspace's own ARN, in the form AWS returns it (IAM service prefix `aps`).
    workspace_arn = "arn:aws:aps:us-east-1:123456789012:workspace/ws-adc5975fe0a0467e4"
    assert task_policy["Statement"] == [
        {
            "Sid": "ReadOwnModel",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": ["arn:aws:s3:::acme-models/fraud/v12/*"],
        },
        {"Sid": "WriteOwnMetrics", "Effect": "Allow", "Action": ["aps:RemoteWrite"], "Resource": [workspace_arn]},
    ]
    exec_policy = json.loads(dev.inputs(ROLE_POLICY, "fraud-detector-execution-secrets")["policy"])
    actions = [a for s in exec_policy["Statement"] for a in s["Action"]]
    assert actions == ["secretsmanager:GetSecretValue", "kms:Decrypt"]
    assert exec_policy["Statement"][0]["Resource"] == [
        containers(dev, "fraud-detector")["model"]["secrets"][0]["valueFrom"]
    ]
    assert all("*" not in a for a in actions)
    # A service without secrets gets no secrets policy at all.
    assert not [r for r in dev.of_type(ROLE_POLICY) if r.name == "search-ranker-execution-secrets"]


def test_logs_have_retention_and_kms(dev: Plan) -> None:
    group = dev.inputs("aws:cloudwatch/logGroup:LogGroup", "fraud-detector-logs")
    assert group["retentionInDays"] == 30
    assert group["kmsKeyId"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    key = dev.inputs("aws:kms/key:Key", "platform-monitoring-key")
    policy = json.loads(key["policy"])
    logs = next(s for s in policy["Statement"] if s["Sid"] == "CloudWatchLogs")
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert key["enableKeyRotation"] is True


def test_fargate_service_deploys_safely(dev: Plan) -> None:
    service = dev.inputs(SERVICE, "fraud-detector-service")
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert (service["deploymentMinimumHealthyPercent"], service["deploymentMaximumPercent"]) == (100, 200)
    assert service["capacityProviderStrategies"] == [{"base": 0, "capacityProvider": "FARGATE", "weight": 1}]
    assert service["networkConfiguration"]["assignPublicIp"] is False
    assert service["healthCheckGracePeriodSeconds"] >= 20 + 30  # expected_load_seconds=20, plus margin
    assert service["enableExecuteCommand"] is False
    task = dev.inputs(TASK, "fraud-detector-task")
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert (task["cpu"], task["memory"]) == ("1024", "2048")


def test_gpu_service_lands_on_gpu_capacity_without_needing_a_surge_host(dev: Plan) -> None:
    service = dev.inputs(SERVICE, "search-ranker-service")
    assert service["capacityProviderStrategies"] == [
        {"base": 0, "capacityProvider": "mlinfra-dev-gpu-a10g", "weight": 1}
    ]
    assert service["deploymentMaximumPercent"] == 100
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["healthCheckGracePeriodSeconds"] >= 120  # the ranker loads for up to 120 s
    assert "platformVersion" not in service  # Fargate-only setting
    task = dev.inputs(TASK, "search-ranker-task")
    assert task["requiresCompatibilities"] == ["EC2"]
    assert task["networkMode"] == "awsvpc"
    assert containers(dev, "search-ranker")["model"]["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    assert "resourceRequirements" not in containers(dev, "fraud-detector")["model"]


def test_deregistration_is_shorter_than_drain_plus_stop_timeout(dev: Plan) -> None:
    for service in ("fraud-detector", "search-ranker"):
        target_group = dev.inputs(TG, f"{service}-tg")
        stop_timeout = containers(dev, service)["model"]["stopTimeout"]
        assert target_group["deregistrationDelay"] < stop_timeout <= 120
        assert target_group["deregistrationDelay"] >= 30  # the 30 s request timeout fits
        health = target_group["healthCheck"]
        assert (health["path"], health["matcher"], target_group["targetType"]) == ("/ready", "200", "ip")


def test_tasks_admit_only_the_alb(dev: Plan) -> None:
    sg = dev.inputs("aws:ec2/securityGroup:SecurityGroup", "fraud-detector-tasks")
    alb_groups = dev.inputs(LB, "platform-internal-alb")["securityGroups"]
    assert sg["ingress"] == [
        {
            "description": "from the ALB",
            "fromPort": 8080,
            "protocol": "tcp",
            "securityGroups": alb_groups,
            "toPort": 8080,
        }
    ]
    assert len(alb_groups) == 1
    assert [e["fromPort"] for e in sg["egress"]] == [443]


def test_shared_alb_is_internal_https_only_and_logged(dev: Plan) -> None:
    assert [r.name for r in dev.of_type(LB)] == ["platform-internal-alb"]
    lb = dev.inputs(LB, "platform-internal-alb")
    assert lb["internal"] is True
    assert lb["dropInvalidHeaderFields"] is True
    assert lb["desyncMitigationMode"] == "defensive"
    assert lb["enableDeletionProtection"] is False  # dev; prod is tested below
    assert lb["accessLogs"]["enabled"] is True
    assert lb["accessLogs"]["bucket"] == dev.inputs("aws:s3/bucket:Bucket", "platform-alb-logs-bucket").get(
        "bucket", "platform-alb-logs-bucket-" + lb["accessLogs"]["bucket"].rsplit("-", 1)[-1]
    )
    https = dev.inputs(LISTENER, "platform-internal-https")
    assert (https["protocol"], https["port"]) == ("HTTPS", 443)
    assert https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["certificateArn"].startswith("arn:aws:acm:us-east-1:123456789012:certificate/")
    http = dev.inputs(LISTENER, "platform-internal-http")
    assert http["defaultActions"] == [
        {"redirect": {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}, "type": "redirect"}
    ]
    sse = dev.inputs(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "platform-alb-logs-sse",
    )
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    block = dev.inputs("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "platform-alb-logs-public-access")
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))


def test_listener_rule_routes_by_host(dev: Plan) -> None:
    rule = dev.inputs(RULE, "fraud-detector-rule")
    assert rule["conditions"] == [{"hostHeader": {"values": ["fraud-detector.dev.ml.acme.example"]}}]
    assert rule["priority"] == listener_rule_priority("fraud-detector")
    assert rule["actions"][0]["type"] == "forward"


def test_autoscaling_tracks_cpu_and_alb_requests(dev: Plan) -> None:
    target = dev.inputs("aws:appautoscaling/target:Target", "fraud-detector-scaling")
    assert (target["minCapacity"], target["maxCapacity"]) == (1, 4)
    assert target["resourceId"] == "service/mlinfra-dev/fraud-detector"
    cpu = dev.inputs("aws:appautoscaling/policy:Policy", "fraud-detector-cpu")
    config = cpu["targetTrackingScalingPolicyConfiguration"]
    assert config["predefinedMetricSpecification"] == {"predefinedMetricType": "ECSServiceAverageCPUUtilization"}
    assert config["targetValue"] == 60
    requests = dev.inputs("aws:appautoscaling/policy:Policy", "fraud-detector-requests")
    metric = requests["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"]
    assert metric["predefinedMetricType"] == "ALBRequestCountPerTarget"
    assert metric["resourceLabel"].startswith("app/platform-internal-alb-")
    assert "/targetgroup/fraud-detector-tg-" in metric["resourceLabel"]
    assert requests["targetTrackingScalingPolicyConfiguration"]["targetValue"] == 50 * 60
    # A fixed-size service gets no scaling resources (its count is the spec's replicas).
    assert not [r for r in dev.of_type("aws:appautoscaling/target:Target") if r.name.startswith("search-ranker")]


def test_amp_rule_groups_are_the_shared_alert_rules(dev: Plan) -> None:
    for service, gpu in (("fraud-detector", False), ("search-ranker", True)):
        rules = dev.inputs("aws:amp/ruleGroupNamespace:RuleGroupNamespace", f"{service}-rules")
        assert yaml.safe_load(rules["data"]) == {"groups": rule_groups(service, f"ml-{service}", gpu, kubernetes=False)}
    definition = dev.inputs(
        "aws:amp/alertManagerDefinition:AlertManagerDefinition", "platform-monitoring-alertmanager"
    )["definition"]
    config = yaml.safe_load(yaml.safe_load(definition)["alertmanager_config"])
    # dev's mlinfra:alerting: one sns receiver, its own topic, an e-mail subscription.
    assert config["route"]["receiver"] == "ml-team"
    assert config["receivers"][0]["sns_configs"][0]["topic_arn"].startswith("arn:aws:sns:us-east-1:")
    [subscription] = dev.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert (subscription.inputs["protocol"], subscription.inputs["endpoint"]) == ("email", "ml-team@acme.example")
    workspace = dev.inputs("aws:amp/workspace:Workspace", "platform-monitoring-amp")
    assert workspace["kmsKeyArn"].startswith("arn:aws:kms:")


def test_collector_sidecar_scrapes_the_runtime_and_writes_to_amp(dev: Plan) -> None:
    collector = containers(dev, "fraud-detector")["metrics-collector"]
    assert collector["essential"] is False
    assert collector["readonlyRootFilesystem"] is True
    config = yaml.safe_load(collector["environment"][0]["value"])
    scrape = config["receivers"]["prometheus"]["config"]["scrape_configs"][0]
    assert scrape["static_configs"][0]["targets"] == ["127.0.0.1:8080"]
    assert scrape["metrics_path"] == "/metrics"
    endpoint = config["exporters"]["prometheusremotewrite"]["endpoint"]
    assert endpoint.startswith("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-")
    assert endpoint.endswith("/api/v1/remote_write")
    model = containers(dev, "fraud-detector")["model"]
    assert model["cpu"] + collector["cpu"] == 1024
    assert model["memoryReservation"] + collector["memory"] == 2048


def test_prod_turns_on_deletion_protection(prod_public: Plan) -> None:
    for lb in prod_public.of_type(LB):
        assert lb.inputs["enableDeletionProtection"] is True
    secret = prod_public.inputs("aws:secretsmanager/secret:Secret", "platform-secret-fraud-api-key")
    assert secret["recoveryWindowInDays"] == 30


def test_public_service_gets_its_own_internet_facing_alb(prod_public: Plan) -> None:
    public = prod_public.inputs(LB, "platform-public-alb")
    assert public["internal"] is False
    assert prod_public.inputs(LB, "platform-internal-alb")["internal"] is True
    sg = prod_public.inputs("aws:ec2/securityGroup:SecurityGroup", "platform-public-sg")
    assert {c for rule in sg["ingress"] for c in rule["cidrBlocks"]} == {"203.0.113.0/24"}
    rule = prod_public.inputs(RULE, "fraud-detector-rule")
    assert {"sourceIp": {"values": ["203.0.113.0/24"]}} in rule["conditions"]
    model = containers(prod_public, "fraud-detector")["model"]
    names = {s["name"]: s["valueFrom"] for s in model["secrets"]}
    assert names["MLINFRA_API_KEYS"] == "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-keys-AbCdEf"
    env = {e["name"]: e["value"] for e in model["environment"]}
    assert env["MLINFRA_KEEPALIVE_TIMEOUT_S"] == "135"  # longer than the 120 s ALB idle timeout


def test_path_routing_strips_the_prefix(prod_public: Plan) -> None:
    rule = prod_public.inputs(RULE, "search-ranker-rule")
    assert {"pathPattern": {"values": ["/search-ranker/*"]}} in rule["conditions"]
    assert {"hostHeader": {"values": ["dev.ml.acme.example"]}} in rule["conditions"]
    assert rule["transforms"] == [
        {"type": "url-rewrite", "urlRewriteConfig": {"rewrite": {"regex": "^/search-ranker/(.*)$", "replace": "/$1"}}}
    ]
    assert prod_public.run.outputs["endpoints"]["search-ranker"] == "https://dev.ml.acme.example/search-ranker/"


def test_edited_project_fixture_is_isolated(edited_project: Callable[..., Path]) -> None:
    root = edited_project(lambda c: c.update({"mlinfra:tier": "prod"}))
    assert "tier: prod" in (root / "stacks" / "Pulumi.dev.yaml").read_text()
    assert "mlinfra:tier: dev" in (Path(__file__).resolve().parents[2] / "stacks" / "Pulumi.dev.yaml").read_text()


def test_gpu_hosts_pull_each_digest_once_as_the_agent_documents_it() -> None:
    """ECS_IMAGE_PULL_BEHAVIOR=once: one of the values the pinned agent README lists, and the
    one that pulls an image again only after the agent's cleanup removed it."""
    import base64
    import re
    from pathlib import Path

    from mlinfra.components.ecs_cluster import IMAGE_PULL_BEHAVIOR, gpu_user_data

    row = (Path(__file__).parents[1] / "fixtures/upstream/amazon-ecs-agent/image-pull-behavior.md").read_text()
    allowed = [v.strip() for v in re.search(r"&lt;(.*?)&gt;", row).group(1).split("&#124;")]  # type: ignore[union-attr]
    assert allowed == ["default", "always", "once", "prefer-cached"]
    assert IMAGE_PULL_BEHAVIOR in allowed
    assert (
        f"If `{IMAGE_PULL_BEHAVIOR}` is specified, the image will be pulled remotely if it has not been "
        "pulled before or if the image was removed by image cleanup"
    ) in row
    script = base64.b64decode(gpu_user_data("mlinfra-dev")).decode()
    assert f"echo ECS_IMAGE_PULL_BEHAVIOR={IMAGE_PULL_BEHAVIOR} >> /etc/ecs/ecs.config" in script.splitlines()
