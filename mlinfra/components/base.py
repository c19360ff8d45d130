"""Small helpers every component uses: type tokens, child options, common tags."""

from __future__ import annotations

import pulumi

TOKEN_PREFIX = "mlinfra:index:"


def child(parent: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
    """Options for a child resource: parented, so the tree and URNs stay stable."""
    return pulumi.ResourceOptions(parent=parent, **extra)  # type: ignore[arg-type]


def tags(stack: str, *, service: str | None = None, **more: str) -> dict[str, str]:
    out = {"mlinfra:stack": stack, "managed-by": "mlinfra"}
    if service:
        out["mlinfra:service"] = service
    out.update(more)
    return dict(sorted(out.items()))
