"""The rule registry: a rule is a plain function `(resource, graph) -> messages`, registered by
resource type with a stable id and a severity. Ids are public API: never renumber or reuse one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlinfra.engine.graph import ResourceGraph as Graph

Resource = dict[str, Any]
SEVERITIES = ("critical", "high", "medium", "low")

Check = Callable[[Resource, Graph], list[str]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title: str
    types: tuple[str, ...]
    check: Check
    prod_only: bool = False
    """Only evaluated on stacks with `mlinfra:tier: prod`."""


RULES: list[Rule] = []


def rule(id_: str, severity: str, title: str, *types: str, prod_only: bool = False) -> Callable[[Check], Check]:
    if severity not in SEVERITIES:
        raise ValueError(f"rule {id_}: severity {severity!r} is not one of {SEVERITIES}")

    def register(fn: Check) -> Check:
        RULES.append(Rule(id_, severity, title, types, fn, prod_only))
        return fn

    return register


def rule_ids() -> list[str]:
    return sorted(r.id for r in RULES)
