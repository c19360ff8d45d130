"""IAM policies (MLI-IAM-*)."""

from __future__ import annotations

from mlinfra.policy.registry import Graph, Resource, rule
from mlinfra.policy.wire import (
    IAM_POLICIES,
    as_list,
    statements,
)


@rule("MLI-IAM-001", "high", "no wildcard IAM actions", *IAM_POLICIES)
def _wild_actions(res: Resource, g: Graph) -> list[str]:
    return [
        f"statement {s.get('Sid', i)} allows {a}"
        for i, s in enumerate(statements(res))
        if s.get("Effect") == "Allow"
        for a in as_list(s.get("Action"))
        if a == "*" or a.endswith(":*")
    ]


@rule("MLI-IAM-002", "high", "S3 model reads are scoped to a bucket prefix", *IAM_POLICIES)
def _s3_scope(res: Resource, g: Graph) -> list[str]:
    out = []
    for s in statements(res):
        if s.get("Effect") != "Allow" or not any(a.startswith("s3:") for a in as_list(s.get("Action"))):
            continue
        out += [
            f"S3 access on {r}; grant s3:GetObject on bucket/prefix/* only"
            for r in as_list(s.get("Resource"))
            if r in ("*", "arn:aws:s3:::*")
        ]
    return out
