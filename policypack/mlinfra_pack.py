"""The mlinfra rules as Pulumi CrossGuard stack policies: one policy per rule id.

`pulumi preview --policy-pack policypack` runs these against the real engine's resources.
Each policy adapts CrossGuard's `PolicyResource` objects into the same wire-form dicts the
offline plan uses and calls the rule function unchanged, so offline and online verdicts agree.
Tier comes from the pack config (`--policy-pack-config`, key `tier`), default `staging`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlinfra.policy.rules import RULES, Graph, Rule

# CrossGuard severities are low/medium/high/critical like ours; mandatory blocks the update.
ENFORCEMENT = {
    "critical": EnforcementLevel.MANDATORY,
    "high": EnforcementLevel.MANDATORY,
    "medium": EnforcementLevel.ADVISORY,
    "low": EnforcementLevel.ADVISORY,
}


def to_resources(args: StackValidationArgs) -> list[dict[str, Any]]:
    """CrossGuard resources -> the plan's resource dicts (type, name, urn, inputs, dependencies)."""
    return [
        {
            "urn": r.urn,
            "type": r.resource_type,
            "name": r.name,
            "inputs": _plain(r.props),
            "dependencies": sorted(d.urn for d in r.dependencies),
            "parent": r.parent.urn if r.parent is not None else "",
        }
        for r in args.resources
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def validator(rule: Rule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        tier = str((args.get_config() or {}).get("tier", "staging"))
        if rule.prod_only and tier != "prod":
            return
        graph = Graph(to_resources(args), production=tier == "prod")
        for res in graph.of_type(*rule.types):
            for message in rule.check(res, graph):
                report_violation(f"[{rule.id}] {message}", res["urn"])

    return validate


def policies() -> list[StackValidationPolicy]:
    schema = PolicyConfigSchema(properties={"tier": {"type": "string", "enum": ["dev", "staging", "prod"]}})
    return [
        StackValidationPolicy(
            name=rule.id,
            description=rule.title,
            validate=validator(rule),
            enforcement_level=ENFORCEMENT[rule.severity],
            config_schema=schema,
        )
        for rule in sorted(RULES, key=lambda r: r.id)
    ]
