"""VPC across the stack's zones: private subnets for nodes and tasks, public subnets for
internet-facing load balancers, and small private subnets of their own for internal ones, so
network policies can admit load balancers without admitting every pod of the VPC."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.spec.stack import StackSettings


@dataclass(frozen=True)
class NetworkArgs:
    stack: str
    settings: StackSettings


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Private /20s from the bottom of the VPC range, public /24-sized ones above them.

    Derived only from the VPC CIDR and the zone count, so adding a zone never renumbers an
    existing subnet (which would replace it).
    """
    private, public, _ = subnet_layout(vpc_cidr, zones)
    return private, public


def subnet_layout(vpc_cidr: str, zones: int) -> tuple[list[str], list[str], list[str]]:
    """(private, public, internal load balancer) CIDRs per zone. The internal load balancer
    subnets come from the upper half of the public pool, which public subnets never reach."""
    network = ipaddress.IPv4Network(vpc_cidr)
    private_prefix = min(network.prefixlen + 4, 28)
    blocks = list(network.subnets(new_prefix=private_prefix))
    private = [str(b) for b in blocks[:zones]]
    pool = list(blocks[-1].subnets(new_prefix=min(private_prefix + 4, 28)))
    half = len(pool) // 2
    return private, [str(b) for b in pool[:zones]], [str(b) for b in pool[half : half + zones]]


class Network(pulumi.ComponentResource):
    """A new VPC, or the ids of an existing one passed through."""

    vpc_id: pulumi.Output[str]
    """The VPC every resource of the stack lives in."""
    vpc_cidr: str
    """The VPC's address range (plain; network policies and security groups use it)."""
    private_subnet_ids: list[pulumi.Output[str]]
    """One per zone; nodes, pods and tasks run here."""
    public_subnet_ids: list[pulumi.Output[str]]
    """One per zone; only internet-facing load balancers use them."""
    load_balancer_cidrs: list[str]
    """Where the stack's load balancers (public and internal) sit: what a network policy admits
    for ALB traffic. For an existing VPC without known subnet ranges: the whole VPC."""
    private_route_table_ids: list[pulumi.Output[str]]
    """Route tables of the private subnets (empty for an existing VPC)."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}Network", name, None, opts)
        settings = args.settings
        vpc = settings.vpc
        self.vpc_cidr = vpc.cidr
        if vpc.existing_vpc_id is not None:
            self.load_balancer_cidrs = [vpc.cidr]
            self.vpc_id = pulumi.Output.from_input(vpc.existing_vpc_id)
            self.private_subnet_ids = [pulumi.Output.from_input(s) for s in vpc.private_subnet_ids]
            self.public_subnet_ids = [pulumi.Output.from_input(s) for s in vpc.public_subnet_ids]
            self.private_route_table_ids = []
            self.register_outputs({"vpc_id": self.vpc_id})
            return

        base_tags = tags(args.stack)
        zones = settings.zones
        private_cidrs, public_cidrs, lb_cidrs = subnet_layout(vpc.cidr, len(zones))
        self.load_balancer_cidrs = [*public_cidrs, *lb_cidrs]
        created = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=vpc.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**base_tags, "Name": f"{name}-vpc"},
            opts=child(self),
        )
        # The default security group allows all traffic between members; empty it.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=created.id, tags=base_tags, opts=child(self))
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=created.id, tags=base_tags, opts=child(self))
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=created.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={**base_tags, "Name": f"{name}-public"},
            opts=child(self),
        )
        self.public_subnet_ids, self.private_subnet_ids, self.private_route_table_ids = [], [], []
        nat_ids: dict[str, pulumi.Output[str]] = {}
        for zone, private_cidr, public_cidr, lb_cidr in zip(zones, private_cidrs, public_cidrs, lb_cidrs, strict=True):
            key = zone[-1]  # stable per-zone key: the zone letter, never a list index
            public = aws.ec2.Subnet(
                f"{name}-public-{key}",
                vpc_id=created.id,
                cidr_block=public_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={**base_tags, "Name": f"{name}-public-{key}", "kubernetes.io/role/elb": "1"},
                opts=child(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{key}", subnet_id=public.id, route_table_id=public_rt.id, opts=child(self)
            )
            self.public_subnet_ids.append(public.id)
            if vpc.nat_gateways == "per_az" or not nat_ids:
                eip = aws.ec2.Eip(f"{name}-nat-{key}", domain="vpc", tags=base_tags, opts=child(self))
                nat = aws.ec2.NatGateway(
                    f"{name}-nat-{key}",
                    subnet_id=public.id,
                    allocation_id=eip.id,
                    tags=base_tags,
                    opts=child(self, depends_on=[igw]),
                )
                nat_ids[key] = nat.id
            nat_id = nat_ids.get(key) or next(iter(nat_ids.values()))
            private = aws.ec2.Subnet(
                f"{name}-private-{key}",
                vpc_id=created.id,
                cidr_block=private_cidr,
                availability_zone=zone,
                tags={**base_tags, "Name": f"{name}-private-{key}"},
                opts=child(self),
            )
            # Internal ALBs only (the load balancer controller picks subnets by this tag); no
            # route beyond the VPC, an ALB needs none.
            aws.ec2.Subnet(
                f"{name}-internal-lb-{key}",
                vpc_id=created.id,
                cidr_block=lb_cidr,
                availability_zone=zone,
                tags={**base_tags, "Name": f"{name}-internal-lb-{key}", "kubernetes.io/role/internal-elb": "1"},
                opts=child(self),
            )
            rt = aws.ec2.RouteTable(
                f"{name}-private-{key}",
                vpc_id=created.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat_id)],
                tags={**base_tags, "Name": f"{name}-private-{key}"},
                opts=child(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{key}", subnet_id=private.id, route_table_id=rt.id, opts=child(self)
            )
            self.private_subnet_ids.append(private.id)
            self.private_route_table_ids.append(rt.id)
        self.vpc_id = created.id
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )
