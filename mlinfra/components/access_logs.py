"""A private bucket for Application Load Balancer access logs, shared by both platforms."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import TOKEN_PREFIX, child, tags

LOG_DELIVERY_PRINCIPAL = "logdelivery.elasticloadbalancing.amazonaws.com"
ACCESS_LOG_RETENTION_DAYS = 90
"""How long both platforms keep ALB access logs in a stack-created bucket."""


def access_log_policy(
    bucket_arn: pulumi.Input[str], elb_account_arn: pulumi.Input[str], account_id: pulumi.Input[str]
) -> pulumi.Output[str]:
    """ALB log delivery may write under AWSLogs/<account>/ only; TLS required for everyone else.

    Regions opened before August 2022 deliver as the regional ELB account, newer ones as the
    log-delivery service principal; granting both keeps the policy region-independent.
    """
    prefix = pulumi.Output.concat(bucket_arn, "/AWSLogs/", account_id, "/*")
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ElbLogDeliveryAccount",
                    "Effect": "Allow",
                    "Principal": {"AWS": elb_account_arn},
                    "Action": "s3:PutObject",
                    "Resource": prefix,
                },
                {
                    "Sid": "ElbLogDeliveryService",
                    "Effect": "Allow",
                    "Principal": {"Service": LOG_DELIVERY_PRINCIPAL},
                    "Action": "s3:PutObject",
                    "Resource": prefix,
                },
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        },
        sort_keys=True,
    )


class AccessLogsBucket(pulumi.ComponentResource):
    """Private, versioned, SSE-S3 bucket for ALB access logs (ALB logging supports only SSE-S3).

    Lifecycle by tier, the same on both platforms: outside production `destroy` empties and
    deletes the bucket (it always holds logs, so without `force_destroy` destroy fails); in
    production the whole component is protected, so `destroy` stops at it and the logs stay
    (an audit trail outlives the stack; remove the protection deliberately to delete them).
    """

    bucket_name: pulumi.Output[str]
    """The bucket name the load balancers log to."""
    policy: aws.s3.BucketPolicy
    """What lets ELB write there: load balancers must depend on it, not only on the bucket
    (ELB test-writes when logging is enabled)."""

    def __init__(
        self,
        name: str,
        stack: str,
        retention_days: int,
        *,
        production: bool,
        opts: pulumi.ResourceOptions | None = None,
    ):
        # Children inherit `protect` from this component.
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=production))
        super().__init__(f"{TOKEN_PREFIX}AccessLogsBucket", name, None, opts)
        base_tags = tags(stack)
        bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=not production, tags=base_tags, opts=child(self))
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child(self),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child(self),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
            opts=child(self),
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child(self),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=7
                    ),
                )
            ],
            opts=child(self),
        )
        account = aws.get_caller_identity_output()
        elb_account = aws.elb.get_service_account_output()
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=access_log_policy(bucket.arn, elb_account.arn, account.account_id),
            opts=child(self),
        )
        self.bucket_name = bucket.bucket
        self.register_outputs({"bucket_name": self.bucket_name})
