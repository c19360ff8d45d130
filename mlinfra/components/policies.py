"""IAM policy documents as plain data: least privilege, rendered and linted as JSON."""

from __future__ import annotations

from typing import Any

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


def secret_read_statements(secret_arns: list[str]) -> list[dict[str, Any]]:
    if not secret_arns:
        return []
    return [{"Sid": "ReadOwnSecrets", "Effect": "Allow",
             "Action": ["secretsmanager:GetSecretValue"], "Resource": sorted(secret_arns)}]


def policy_document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def service_policy(spec: ServiceSpec, secret_arns: list[str]) -> dict[str, Any] | None:
    statements = model_read_statements(spec) + secret_read_statements(secret_arns)
    return policy_document(statements) if statements else None
