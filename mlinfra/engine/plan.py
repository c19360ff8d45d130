"""The plan document (DESIGN.md section 3) and its table / JSON renderings."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from mlinfra.engine.runner import OfflineRun

PLATFORM_GROUP = "(platform)"


def service_of(run: OfflineRun, urn: str, by_urn: dict[str, Any]) -> str:
    """The service a resource belongs to: the nearest ancestor named after a service."""
    names = {s.name for s in run.deployment.services}
    current = by_urn.get(urn)
    while current is not None:
        if current.name in names:
            return str(current.name)
        current = by_urn.get(current.parent)
    return PLATFORM_GROUP


def plan_document(run: OfflineRun, *, ec2_prices: dict[str, float] | None = None) -> dict[str, Any]:
    """The plan of one stack; `ec2_prices` (from `--live-prices`) replace the shipped EC2 rates."""
    from mlinfra.engine.cost import estimate, load_prices
    from mlinfra.policy.evaluate import evaluate

    by_urn = {r.urn: r for r in run.resources}
    resources = [
        {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent,
         "service": service_of(run, r.urn, by_urn),
         "inputs": r.inputs, "dependencies": r.dependencies}
        for r in sorted(run.resources, key=lambda r: r.urn)
    ]
    doc: dict[str, Any] = {
        "project": run.project,
        "stack": run.stack,
        "resources": resources,
        "outputs": run.outputs,
    }
    settings = run.deployment.settings
    doc["cost"] = estimate(doc, load_prices(settings.region, ec2_prices))
    doc["policies"] = evaluate(resources, tier=settings.tier, suppressions=settings.policy.suppressions,
                               file=run.deployment.stack_file)
    return doc


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def summary_rows(doc: dict[str, Any]) -> dict[str, Counter[str]]:
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for res in doc["resources"]:
        if res["type"].startswith("mlinfra:index:"):
            continue  # components are grouping only; they create nothing in the cloud
        groups[res["service"]][res["type"]] += 1
    return dict(sorted(groups.items(), key=lambda kv: (kv[0] != PLATFORM_GROUP, kv[0])))
