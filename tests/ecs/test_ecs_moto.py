"""Send the plan's ECS, ELBv2 and Application Auto Scaling requests to a real moto server on
127.0.0.1 (started and stopped here) and read back what it stored."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support.moto_server import running_moto

from .conftest import Plan, need_tool
from .requests import plan_requests

REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_tool(
        importlib.util.find_spec("moto.server") is not None and importlib.util.find_spec("flask") is not None,
        "moto[server]",
    )
    with running_moto(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


def client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def test_plan_deploys_against_moto(dev: Plan, moto_endpoint: str) -> None:
    ec2, elb = client(moto_endpoint, "ec2"), client(moto_endpoint, "elbv2")
    ecs, iam = client(moto_endpoint, "ecs"), client(moto_endpoint, "iam")
    scaling, asg = client(moto_endpoint, "application-autoscaling"), client(moto_endpoint, "autoscaling")
    acm = client(moto_endpoint, "acm")

    # What the plan refers to but Pulumi would have created first: network, roles, certificate.
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
        for cidr, z in (("10.40.0.0/20", "a"), ("10.40.16.0/20", "b"))
    ]
    alb_sg = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]
    task_sg = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}
            ],
        }
    )
    role_arn = iam.create_role(RoleName="task", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    cert = acm.request_certificate(DomainName="*.dev.ml.acme.example")["CertificateArn"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    template = ec2.create_launch_template(
        LaunchTemplateName="gpu", LaunchTemplateData={"ImageId": image, "InstanceType": "g5.xlarge"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="gpu",
        MinSize=0,
        MaxSize=2,
        LaunchTemplate={"LaunchTemplateId": template},
        VPCZoneIdentifier=",".join(subnets),
        NewInstancesProtectedFromScaleIn=True,
    )
    asg_arn = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["AutoScalingGroupARN"]

    requests = plan_requests(
        dev,
        {
            "platform-ecs-gpu-a10g-provider": {"autoScalingGroupArn": asg_arn},
            "platform-internal-alb": {"Subnets": subnets, "SecurityGroups": [alb_sg]},
        },
    )
    (cluster_request,) = [p for _, p in requests.of("CreateCluster")]
    cluster_arn = ecs.create_cluster(**cluster_request)["cluster"]["clusterArn"]
    (provider_request,) = [p for _, p in requests.of("CreateCapacityProvider")]
    ecs.create_capacity_provider(**provider_request)
    ecs.put_cluster_capacity_providers(
        cluster=cluster_arn,
        capacityProviders=["FARGATE", provider_request["name"]],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )

    (lb_request,) = [p for _, p in requests.of("CreateLoadBalancer")]
    lb_arn = elb.create_load_balancer(**lb_request)["LoadBalancers"][0]["LoadBalancerArn"]
    refs: dict[str, dict[str, Any]] = {
        "platform-internal-alb": {"Subnets": subnets, "SecurityGroups": [alb_sg], "LoadBalancerArn": lb_arn}
    }
    (attrs,) = [p for _, p in plan_requests(dev, refs).of("ModifyLoadBalancerAttributes")]
    elb.modify_load_balancer_attributes(**attrs)

    target_groups: dict[str, str] = {}
    for name, params in requests.of("CreateTargetGroup"):
        params = {**params, "VpcId": vpc}
        target_groups[name] = elb.create_target_group(**params)["TargetGroups"][0]["TargetGroupArn"]
        refs[name] = {"TargetGroupArn": target_groups[name]}
    listeners: dict[str, str] = {}
    for name in ("platform-internal-https", "platform-internal-http"):
        refs[name] = {"LoadBalancerArn": lb_arn, "CertificateArn": cert}
    requests = plan_requests(dev, refs)
    for _name, params in requests.of("ModifyTargetGroupAttributes"):
        elb.modify_target_group_attributes(**params)
    for name, params in requests.of("CreateListener"):
        listeners[name] = elb.create_listener(**params)["Listeners"][0]["ListenerArn"]
    for service in ("fraud-detector", "search-ranker"):
        refs[f"{service}-rule"] = {
            "ListenerArn": listeners["platform-internal-https"],
            "TargetGroupArn": target_groups[f"{service}-tg"],
        }
        refs[f"{service}-task"] = {"taskRoleArn": role_arn, "executionRoleArn": role_arn}
    requests = plan_requests(dev, refs)
    for _name, params in requests.of("CreateRule"):
        elb.create_rule(**params)
    task_arns = {
        name: ecs.register_task_definition(**params)["taskDefinition"]["taskDefinitionArn"]
        for name, params in requests.of("RegisterTaskDefinition")
    }
    for service in ("fraud-detector", "search-ranker"):
        refs[f"{service}-service"] = {
            "cluster": cluster_arn,
            "taskDefinition": task_arns[f"{service}-task"],
            "subnets": subnets,
            "securityGroups": [task_sg],
            "targetGroupArn": target_groups[f"{service}-tg"],
        }
    requests = plan_requests(dev, refs)
    for _name, params in requests.of("CreateService"):
        ecs.create_service(**params)
    for _name, params in requests.of("RegisterScalableTarget"):
        scaling.register_scalable_target(**params)
    for _name, params in requests.of("PutScalingPolicy"):
        scaling.put_scaling_policy(**params)

    # Read back what the emulator stored.
    services = {
        s["serviceName"]: s
        for s in ecs.describe_services(cluster=cluster_arn, services=["fraud-detector", "search-ranker"])["services"]
    }
    # moto keeps neither the deployment configuration nor the capacity-provider strategy of a
    # service; those are covered by botocore's validation and the recorded-input tests.
    assert services["fraud-detector"]["loadBalancers"] == [
        {"targetGroupArn": target_groups["fraud-detector-tg"], "containerName": "model", "containerPort": 8080}
    ]
    assert services["search-ranker"]["taskDefinition"] == task_arns["search-ranker-task"]
    assert services["fraud-detector"]["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    assert services["fraud-detector"]["desiredCount"] == 1

    definition = ecs.describe_task_definition(taskDefinition=task_arns["search-ranker-task"])["taskDefinition"]
    model = next(c for c in definition["containerDefinitions"] if c["name"] == "model")
    assert model["readonlyRootFilesystem"] is True
    assert model["user"] == "10001:10001"
    assert model["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    assert definition["requiresCompatibilities"] == ["EC2"]

    provider = ecs.describe_capacity_providers(capacityProviders=["mlinfra-dev-gpu-a10g"])["capacityProviders"][0]
    assert provider["autoScalingGroupProvider"]["managedTerminationProtection"] == "ENABLED"

    https = elb.describe_listeners(ListenerArns=[listeners["platform-internal-https"]])["Listeners"][0]
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["Protocol"] == "HTTPS"
    rules = elb.describe_rules(ListenerArn=listeners["platform-internal-https"])["Rules"]
    hosts = sorted(
        v
        for r in rules
        for c in r["Conditions"]
        if c["Field"] == "host-header"
        for v in c.get("HostHeaderConfig", {}).get("Values", c.get("Values", []))
    )
    assert hosts == ["fraud-detector.dev.ml.acme.example", "search-ranker.dev.ml.acme.example"]
    tg_attrs = {
        a["Key"]: a["Value"]
        for a in elb.describe_target_group_attributes(TargetGroupArn=target_groups["fraud-detector-tg"])["Attributes"]
    }
    assert tg_attrs["deregistration_delay.timeout_seconds"] == "35"
    lb_attrs = {
        a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb_arn)["Attributes"]
    }
    assert lb_attrs["routing.http.drop_invalid_header_fields.enabled"] == "true"
    lb = elb.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][0]
    assert lb["Scheme"] == "internal"

    policies = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    assert sorted(p["PolicyName"] for p in policies) == ["fraud-detector-cpu", "fraud-detector-requests"]
    targets = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        ("service/mlinfra-dev/fraud-detector", 1, 4)
    ]
