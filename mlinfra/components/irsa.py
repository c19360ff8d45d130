"""IAM roles for Kubernetes service accounts (IRSA): trust scoped to one namespace/account."""

from __future__ import annotations

import json

import pulumi


def irsa_trust_document(
    oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str
) -> dict[str, object]:
    """Only `system:serviceaccount:<namespace>:<service_account>` may assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{oidc_issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{oidc_issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def irsa_trust_policy(
    oidc_provider_arn: pulumi.Input[str], oidc_issuer: pulumi.Input[str], namespace: str, service_account: str
) -> pulumi.Output[str]:
    # The issuer is part of a JSON key, which Output.json_dumps cannot hold, so format it here.
    return pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
        lambda v: json.dumps(irsa_trust_document(v[0], v[1], namespace, service_account), sort_keys=True)
    )
