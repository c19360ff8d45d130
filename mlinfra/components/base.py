"""Small helpers every component uses: type tokens, child options, common tags."""

from __future__ import annotations

import pulumi

TOKEN_PREFIX = "mlinfra:index:"


def child(parent: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
    """Options for a child resource: parented, so the tree and URNs stay stable."""
    return pulumi.ResourceOptions(parent=parent, **extra)  # type: ignore[arg-type]


def physical_name(stack: str, *parts: str, sep: str = "-") -> str:
    """`<project>-<stack>-<parts>`: for the names AWS keeps unique per account and region
    (clusters, capacity providers, log groups, secrets), so two projects never collide."""
    return sep.join((pulumi.get_project(), stack, *parts))


def tags(stack: str, *, service: str | None = None, **more: str) -> dict[str, str]:
    out = {"mlinfra:stack": stack, "managed-by": "mlinfra"}
    if service:
        out["mlinfra:service"] = service
    out.update(more)
    return dict(sorted(out.items()))
