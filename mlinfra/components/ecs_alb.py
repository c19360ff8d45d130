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
from mlinfra.components.k8s_service import TLS_POLICY
from mlinfra.spec.stack import StackSettings

Exposure = Literal["internal", "public"]
LOG_DELIVERY_PRINCIPAL = "logdelivery.elasticloadbalancing.amazonaws.com"


def access_log_policy(bucket_arn: pulumi.Input[str], elb_account_arn: pulumi.Input[str],
                      account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """ALB log delivery may write under AWSLogs/<account>/ only; TLS required for everyone else.

    Regions opened before August 2022 deliver as the regional ELB account, newer ones as the
    log-delivery service principal; granting both keeps the policy region-independent.
    """
    prefix = pulumi.Output.concat(bucket_arn, "/AWSLogs/", account_id, "/*")
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ElbLogDeliveryAccount", "Effect": "Allow",
         "Principal": {"AWS": elb_account_arn}, "Action": "s3:PutObject", "Resource": prefix},
        {"Sid": "ElbLogDeliveryService", "Effect": "Allow",
         "Principal": {"Service": LOG_DELIVERY_PRINCIPAL}, "Action": "s3:PutObject",
         "Resource": prefix},
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]}, sort_keys=True)


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
    ingress_cidrs: tuple[str, ...] = ()
    """Public ALB only: who may connect (default: anyone; listener rules narrow per service)."""


class SharedLoadBalancer(pulumi.ComponentResource):
    """ALB + security group + HTTPS listener (TLS 1.2/1.3 policy) + HTTP->HTTPS redirect."""

    arn_suffix: pulumi.Output[str]
    """`app/<name>/<id>`, for CloudWatch metrics and request-count autoscaling."""
    dns_name: pulumi.Output[str]
    """The ALB's DNS name (point `<service>.<domain>` here)."""
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
            f"{name}-sg", vpc_id=args.vpc_id,
            description=f"mlinfra {args.exposure} ALB ({args.stack}): HTTPS, HTTP only to redirect",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=p, to_port=p,
                                                      cidr_blocks=sources, description=d)
                     for p, d in ((443, "HTTPS"), (80, "HTTP, redirected to HTTPS"))],
            # Targets live in the VPC; the ALB never needs to talk to anything outside it.
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="tcp", from_port=1024, to_port=65535,
                                                    cidr_blocks=[args.vpc_cidr],
                                                    description="targets in the VPC")],
            tags=base_tags, opts=child(self))
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
                bucket=args.logs_bucket, prefix=f"{args.stack}-{args.exposure}", enabled=True),
            tags=base_tags, opts=child(self))
        https = aws.lb.Listener(
            f"{name}-https", load_balancer_arn=lb.arn, port=443, protocol="HTTPS",
            ssl_policy=TLS_POLICY, certificate_arn=settings.certificate_arn,
            # Unknown hosts or paths get a 404 rather than some service's response.
            default_actions=[aws.lb.ListenerDefaultActionArgs(
                type="fixed-response", fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
                    content_type="text/plain", message_body="no such service", status_code="404"))],
            tags=base_tags, opts=child(self))
        aws.lb.Listener(
            f"{name}-http", load_balancer_arn=lb.arn, port=80, protocol="HTTP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(
                type="redirect", redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                    port="443", protocol="HTTPS", status_code="HTTP_301"))],
            tags=base_tags, opts=child(self))
        self.load_balancer = lb
        self.arn_suffix = lb.arn_suffix
        self.dns_name = lb.dns_name
        self.security_group_id = sg.id
        self.https_listener_arn = https.arn
        self.register_outputs({"dns_name": self.dns_name, "arn_suffix": self.arn_suffix})


class AccessLogsBucket(pulumi.ComponentResource):
    """Private, versioned, SSE-S3 bucket for ALB access logs (ALB logging supports only SSE-S3)."""

    bucket_name: pulumi.Output[str]
    """The bucket name the load balancers log to."""

    def __init__(self, name: str, stack: str, retention_days: int,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}AccessLogsBucket", name, None, opts)
        base_tags = tags(stack)
        bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=False, tags=base_tags, opts=child(self))
        aws.s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=bucket.id,
                                       block_public_acls=True, block_public_policy=True,
                                       ignore_public_acls=True, restrict_public_buckets=True,
                                       opts=child(self))
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child(self))
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse", bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.
                BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"))],
            opts=child(self))
        aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child(self))
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket.id,
            rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-access-logs", status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
                noncurrent_version_expiration=aws.s3.
                BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=7))],
            opts=child(self))
        account = aws.get_caller_identity_output()
        elb_account = aws.elb.get_service_account_output()
        aws.s3.BucketPolicy(f"{name}-policy", bucket=bucket.id,
                            policy=access_log_policy(bucket.arn, elb_account.arn, account.account_id),
                            opts=child(self))
        self.bucket_name = bucket.bucket
        self.register_outputs({"bucket_name": self.bucket_name})
