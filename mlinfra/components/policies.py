"""IAM policy documents as plain data: least privilege, rendered and linted as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi

from mlinfra.spec.service import ServiceSpec


def model_read_statements(spec: ServiceSpec) -> list[dict[str, Any]]:
    """Read access to the model's own S3 prefix only; nothing for non-S3 models."""
    location = spec.model_bucket_and_prefix
    if location is None:
        return []
    bucket, prefix = location
    resource = f"arn:aws:s3:::{bucket}/{prefix}/*" if prefix else f"arn:aws:s3:::{bucket}/*"
    return [{"Sid": "ReadOwnModel", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [resource]}]


def secret_read_statements(secret_arns: Sequence[pulumi.Input[str]]) -> list[dict[str, Any]]:
    """ARNs may be Outputs (secrets the stack creates): render with `pulumi.Output.json_dumps`."""
    if not secret_arns:
        return []
    plain = all(isinstance(a, str) for a in secret_arns)
    resources = sorted(secret_arns) if plain else list(secret_arns)  # type: ignore[type-var]
    return [
        {"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": resources}
    ]


def metrics_write_statements(workspace_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Remote-write into the stack's own Prometheus workspace, nothing else."""
    return [{"Sid": "WriteOwnMetrics", "Effect": "Allow", "Action": ["aps:RemoteWrite"], "Resource": [workspace_arn]}]


def policy_document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def service_policy(spec: ServiceSpec, secret_arns: Sequence[pulumi.Input[str]]) -> dict[str, Any] | None:
    statements = model_read_statements(spec) + secret_read_statements(secret_arns)
    return policy_document(statements) if statements else None


def telemetry_key_policy(account_id: str, region: str, *, amp_alerts: bool) -> dict[str, object]:
    """The account administers the key (so IAM policies grant its use, as to the publishers of
    an encrypted topic); CloudWatch Logs may use it only for this account's log groups, and,
    with `amp_alerts` (ECS), AMP only to publish alerts to the encrypted SNS topic."""
    statements: list[dict[str, object]] = [
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchLogs",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {
                "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:log-group:*"}
            },
        },
    ]
    if amp_alerts:
        statements.append(
            {
                "Sid": "AmpPublishesAlerts",
                "Effect": "Allow",
                "Principal": {"Service": "aps.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


# The AWS Load Balancer Controller's own IAM policy (docs/install/iam_policy.json of the
# kubernetes-sigs repository at the chart's appVersion), vendored unchanged: anything narrower
# fails silently at runtime (no SG rule for the pods, no rule re-ordering). tests/upstream/ holds
# it against the upstream file and fails when the chart pin moves without it.
LBC_APP_VERSION = "v2.13.3"
_LBC_POLICY_FILE = Path(__file__).parent / "data" / f"aws-load-balancer-controller-{LBC_APP_VERSION}-iam-policy.json"

# Narrowing, only as Deny statements for calls the controller makes solely for annotations
# mlinfra never renders (tests/upstream/ checks the rendered Ingresses never carry them).
LBC_DENIES: dict[str, tuple[list[str], str]] = {
    # Returns the Cognito app client secret; used only for `alb.ingress.kubernetes.io/auth-type: cognito`.
    "NoCognitoClientSecrets": (["cognito-idp:DescribeUserPoolClient"], "alb.ingress.kubernetes.io/auth-type"),
}


def load_balancer_controller_policy() -> dict[str, Any]:
    upstream = json.loads(_LBC_POLICY_FILE.read_text())
    denies = [
        {"Sid": sid, "Effect": "Deny", "Action": actions, "Resource": "*"}
        for sid, (actions, _annotation) in sorted(LBC_DENIES.items())
    ]
    return {"Version": upstream["Version"], "Statement": [*upstream["Statement"], *denies]}
