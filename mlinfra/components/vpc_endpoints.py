"""Private paths to the AWS services every model start needs, so image pulls and model
downloads do not cross (and pay for) the NAT gateway. Shared by both platforms.

- S3 gateway endpoint (free): model files and ECR image layers, which ECR serves from S3.
- Interface endpoints (billed per AZ-hour and GB): ECR API and registry, STS (IRSA and task
  credentials), Secrets Manager, CloudWatch Logs. With private DNS, the SDKs' default
  hostnames resolve to them, so nothing else changes.

Only for a VPC the stack creates: an existing VPC may already have endpoints, and a second
interface endpoint with private DNS for the same service is refused by AWS.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.components.network import Network
from mlinfra.spec.stack import EndpointMode, StackSettings

GATEWAY_SERVICES = ("s3",)
INTERFACE_SERVICES = ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts")


def endpoint_services(mode: EndpointMode) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(gateway, interface) service suffixes for `mlinfra:vpc.endpoints`."""
    if mode == "none":
        return (), ()
    return GATEWAY_SERVICES, INTERFACE_SERVICES if mode == "interface" else ()


@dataclass(frozen=True)
class VpcEndpointsArgs:
    stack: str
    region: str
    mode: EndpointMode
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: list[pulumi.Output[str]]
    """Private subnets: one interface endpoint ENI per zone."""
    route_table_ids: list[pulumi.Output[str]]
    """Private route tables: the S3 gateway endpoint adds its prefix-list route to each."""


class VpcEndpoints(pulumi.ComponentResource):
    """Gateway and interface VPC endpoints of the stack's VPC."""

    def __init__(self, name: str, args: VpcEndpointsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}VpcEndpoints", name, None, opts)
        base_tags = tags(args.stack)
        gateway, interface = endpoint_services(args.mode)
        for service in gateway:
            aws.ec2.VpcEndpoint(
                f"{name}-{service}",
                vpc_id=args.vpc_id,
                vpc_endpoint_type="Gateway",
                service_name=f"com.amazonaws.{args.region}.{service}",
                route_table_ids=args.route_table_ids,
                tags={**base_tags, "Name": f"{name}-{service}"},
                opts=child(self),
            )
        if not interface:
            self.register_outputs({})
            return
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="mlinfra VPC interface endpoints: HTTPS from the VPC",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=443, to_port=443, cidr_blocks=[args.vpc_cidr], description="HTTPS"
                )
            ],
            tags=base_tags,
            opts=child(self),
        )
        for service in interface:
            key = service.replace(".", "-")
            aws.ec2.VpcEndpoint(
                f"{name}-{key}",
                vpc_id=args.vpc_id,
                vpc_endpoint_type="Interface",
                service_name=f"com.amazonaws.{args.region}.{service}",
                subnet_ids=args.subnet_ids,
                security_group_ids=[sg.id],
                private_dns_enabled=True,
                tags={**base_tags, "Name": f"{name}-{key}"},
                opts=child(self),
            )
        self.register_outputs({})


def stack_endpoints(
    name: str, stack: str, settings: StackSettings, network: Network, parent: pulumi.Resource
) -> VpcEndpoints | None:
    """The endpoints `mlinfra:vpc.endpoints` asks for, in the VPC the stack created."""
    if settings.vpc.existing_vpc_id is not None or settings.vpc.endpoints == "none":
        return None
    return VpcEndpoints(
        name,
        VpcEndpointsArgs(
            stack,
            settings.region,
            settings.vpc.endpoints,
            network.vpc_id,
            network.vpc_cidr,
            network.private_subnet_ids,
            network.private_route_table_ids,
        ),
        opts=child(parent),
    )
