"""Policy rules over the resource graph: the secure defaults (docs/architecture.md) plus prod rules.

Every rule is a plain function `(resource, graph) -> list of messages` over resources in wire
form (camelCase keys, numbers possibly floats), so the same functions run over an offline plan
(`mlinfra plan`) and over the real engine's resources (the CrossGuard pack in `policypack/`).
Rules are registered by resource type (`mlinfra.policy.registry`), one module per area;
another platform's types slot in the same way.
Ids are public API: never renumber or reuse one.
"""

from __future__ import annotations

from mlinfra.policy.registry import RULES, SEVERITIES, Check, Graph, Resource, Rule, rule, rule_ids
from mlinfra.policy.rules import cluster, ecs, iam, kubernetes, load_balancers, production

__all__ = [
    "RULES",
    "SEVERITIES",
    "Check",
    "Graph",
    "Resource",
    "Rule",
    "cluster",
    "ecs",
    "iam",
    "kubernetes",
    "load_balancers",
    "production",
    "rule",
    "rule_ids",
]
