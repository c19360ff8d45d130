"""IAM policy documents as plain data: least privilege, rendered and linted as JSON."""

from __future__ import annotations

from collections.abc import Sequence
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
    return [{"Sid": "ReadOwnModel", "Effect": "Allow", "Action": ["s3:GetObject"],
             "Resource": [resource]}]


def secret_read_statements(secret_arns: Sequence[pulumi.Input[str]]) -> list[dict[str, Any]]:
    """ARNs may be Outputs (secrets the stack creates): render with `pulumi.Output.json_dumps`."""
    if not secret_arns:
        return []
    plain = all(isinstance(a, str) for a in secret_arns)
    resources = sorted(secret_arns) if plain else list(secret_arns)  # type: ignore[type-var]
    return [{"Sid": "ReadOwnSecrets", "Effect": "Allow",
             "Action": ["secretsmanager:GetSecretValue"], "Resource": resources}]


def metrics_write_statements(workspace_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Remote-write into the stack's own Prometheus workspace, nothing else."""
    return [{"Sid": "WriteOwnMetrics", "Effect": "Allow", "Action": ["aps:RemoteWrite"],
             "Resource": [workspace_arn]}]


def policy_document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def service_policy(spec: ServiceSpec, secret_arns: Sequence[pulumi.Input[str]]) -> dict[str, Any] | None:
    statements = model_read_statements(spec) + secret_read_statements(secret_arns)
    return policy_document(statements) if statements else None
