"""VPC endpoints on both platforms: the CreateVpcEndpoint requests the plan implies pass botocore's
validation and are accepted by a real moto server for service names it publishes, and the cost
engine prices the endpoints and the NAT processing they avoid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
from botocore.validate import validate_parameters

from mlinfra.engine.plan import plan_document
from mlinfra.engine.runner import run_offline

from .conftest import ROOT, Plan
from .test_ecs_moto import client, moto_endpoint  # noqa: F401  (the moto server fixture)

ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SHAPE = botocore.session.get_session().get_service_model("ec2").operation_model("CreateVpcEndpoint").input_shape


def create_requests(plan: Plan, vpc: str, subnets: list[str], route_tables: list[str], sg: str) -> list[dict[str, Any]]:
    """CreateVpcEndpoint parameters from the recorded inputs, with deploy-time ids substituted."""
    out = []
    for res in plan.of_type(ENDPOINT):
        i = res.inputs
        params: dict[str, Any] = {
            "VpcId": vpc,
            "ServiceName": i["serviceName"],
            "VpcEndpointType": i["vpcEndpointType"],
        }
        if i["vpcEndpointType"] == "Gateway":
            assert len(i["routeTableIds"]) == len(subnets)  # every private route table
            params["RouteTableIds"] = route_tables
        else:
            assert len(i["subnetIds"]) == len(subnets)  # one ENI per zone
            params.update(SubnetIds=subnets, SecurityGroupIds=[sg], PrivateDnsEnabled=i["privateDnsEnabled"])
        out.append(params)
    return out


def test_both_platforms_get_the_private_paths(dev: Plan) -> None:
    staging = Plan(run_offline(ROOT, "staging"))
    for plan in (dev, staging):
        services = sorted((r.inputs["serviceName"], r.inputs["vpcEndpointType"]) for r in plan.of_type(ENDPOINT))
        assert services == [
            ("com.amazonaws.us-east-1.ecr.api", "Interface"),
            ("com.amazonaws.us-east-1.ecr.dkr", "Interface"),
            ("com.amazonaws.us-east-1.logs", "Interface"),
            ("com.amazonaws.us-east-1.s3", "Gateway"),
            ("com.amazonaws.us-east-1.secretsmanager", "Interface"),
            ("com.amazonaws.us-east-1.sts", "Interface"),
        ]
        assert all(
            r.inputs["privateDnsEnabled"] for r in plan.of_type(ENDPOINT) if r.inputs["vpcEndpointType"] == "Interface"
        )


def test_endpoint_requests_are_valid_and_moto_accepts_them(dev: Plan, moto_endpoint: str) -> None:  # noqa: F811
    ec2 = client(moto_endpoint, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
        for c, z in (("10.40.0.0/20", "a"), ("10.40.16.0/20", "b"))
    ]
    tables = [ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] for _ in subnets]
    sg = ec2.create_security_group(GroupName="endpoints", Description="e", VpcId=vpc)["GroupId"]
    published = {s for page in [ec2.describe_vpc_endpoint_services()] for s in page["ServiceNames"]}
    for params in create_requests(dev, vpc, subnets, tables, sg):
        validate_parameters(params, SHAPE)
        assert params["ServiceName"] in published
        ec2.create_vpc_endpoint(**params)
    stored = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    assert len(stored) == 6
    gateway = next(e for e in stored if e["VpcEndpointType"] == "Gateway")
    assert sorted(gateway["RouteTableIds"]) == sorted(tables)


def test_cost_prices_endpoints_and_the_nat_processing_they_avoid(dev: Plan) -> None:
    cost = plan_document(dev.run)["cost"]
    lines = [x for x in cost["resources"] if x["type"] == ENDPOINT]
    interface = [x for x in lines if "interface" in x["basis"]]
    assert len(interface) == 5
    assert all(x["min"] == x["max"] == 14.6 for x in interface)  # $0.01 x 2 AZs x 730 h
    (gateway,) = [x for x in lines if "gateway" in x["basis"]]
    assert (gateway["min"], gateway["avoided"]) == (0, 9.0)  # 200 GB x $0.045 of NAT processing
    assert cost["avoided"] == 9.0


def test_endpoints_can_be_reduced_or_turned_off(edited_project: Callable[..., Path]) -> None:
    def gateway_only(config: dict[str, Any]) -> None:
        config["mlinfra:vpc"]["endpoints"] = "gateway"

    plan = Plan(run_offline(edited_project(gateway_only), "dev"))
    assert [r.inputs["vpcEndpointType"] for r in plan.of_type(ENDPOINT)] == ["Gateway"]
