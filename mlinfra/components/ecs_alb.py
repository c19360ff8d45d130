"""The stack's shared Application Load Balancer: HTTPS only, hardened, logged.

One ALB per exposure: `internal` always serves the stack's private services; an
`internet-facing` one exists only when a service opts in with `public=True`, so a private
service can never be reached through a public load balancer by a routing mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.components.contract import TLS_POLICY
from mlinfra.spec.stack import StackSettings

Exposure = Literal["internal", "public"]


@dataclass(frozen=True)
class LoadBalancerArgs:
    stack: str
    settings: StackSettings
    exposure: Exposure
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: list[pulumi.Output[str]]
    """Private subnets for the internal ALB, public ones for an internet-facing one."""
    logs_bucket: pulumi.Input[str]
    logs_ready: list[pulumi.Resource]
    """What must exist before ELB may write to the bucket (its bucket policy)."""
    ingress_cidrs: tuple[str, ...] = ()
    """Public ALB only: who may connect (default: anyone; listener rules narrow per service)."""


class SharedLoadBalancer(pulumi.ComponentResource):
    """ALB + security group + HTTPS listener (TLS 1.2/1.3 policy) + HTTP->HTTPS redirect."""

    arn_suffix: pulumi.Output[str]
    """`app/<name>/<id>`, for CloudWatch metrics and request-count autoscaling."""
    dns_name: pulumi.Output[str]
    """The ALB's DNS name (point `<service>.<domain>` here)."""
    zone_id: pulumi.Output[str]
    """The ALB's canonical hosted zone, for Route 53 alias records."""
    security_group_id: pulumi.Output[str]
    """The ALB's security group: task security groups admit only this."""
    https_listener_arn: pulumi.Output[str]
    """Services attach their listener rules here."""
    load_balancer: aws.lb.LoadBalancer
    """The ALB itself (for dependencies)."""

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}SharedLoadBalancer", name, None, opts)
        settings, alb = args.settings, args.settings.ecs.alb
        base_tags = tags(args.stack)
        public = args.exposure == "public"
        sources = list(args.ingress_cidrs) or (["0.0.0.0/0"] if public else [args.vpc_cidr])
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"mlinfra {args.exposure} ALB ({args.stack}): HTTPS, HTTP only to redirect",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=p, to_port=p, cidr_blocks=sources, description=d
                )
                for p, d in ((443, "HTTPS"), (80, "HTTP, redirected to HTTPS"))
            ],
            # Targets live in the VPC; the ALB never needs to talk to anything outside it.
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp",
                    from_port=1024,
                    to_port=65535,
                    cidr_blocks=[args.vpc_cidr],
                    description="targets in the VPC",
                )
            ],
            tags=base_tags,
            opts=child(self),
        )
        lb = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=not public,
            subnets=args.subnet_ids,
            security_groups=[sg.id],
            idle_timeout=alb.idle_timeout_seconds,
            drop_invalid_header_fields=True,
            desync_mitigation_mode="defensive",
            enable_deletion_protection=settings.production,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=args.logs_bucket, prefix=f"{args.stack}-{args.exposure}", enabled=True
            ),
            tags=base_tags,
            opts=child(self, depends_on=args.logs_ready),
        )
        https = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=lb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=settings.certificate_arn,
            # Unknown hosts or paths get a 404 rather than some service's response.
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="fixed-response",
                    fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
                        content_type="text/plain", message_body="no such service", status_code="404"
                    ),
                )
            ],
            tags=base_tags,
            opts=child(self),
        )
        aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=lb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        port="443", protocol="HTTPS", status_code="HTTP_301"
                    ),
                )
            ],
            tags=base_tags,
            opts=child(self),
        )
        self.load_balancer = lb
        self.arn_suffix = lb.arn_suffix
        self.dns_name = lb.dns_name
        self.zone_id = lb.zone_id
        self.security_group_id = sg.id
        self.https_listener_arn = https.arn
        self.register_outputs({"dns_name": self.dns_name, "arn_suffix": self.arn_suffix})
