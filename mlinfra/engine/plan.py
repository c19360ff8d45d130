"""The plan document (docs/architecture.md, "Contracts") and its table / JSON renderings."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from mlinfra.engine.graph import PLATFORM_GROUP, ResourceGraph, is_component
from mlinfra.engine.runner import OfflineRun


def service_of(run: OfflineRun, urn: str, by_urn: dict[str, Any]) -> str:
    """The service a resource belongs to, from the component tree (see `engine.graph`)."""
    graph = ResourceGraph({"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent} for r in run.resources)
    return graph.service_of(graph.by_urn[urn])


def plan_document(
    run: OfflineRun, *, ec2_prices: dict[str, float] | None = None, spot_prices: dict[str, float] | None = None
) -> dict[str, Any]:
    """The plan of one stack; `ec2_prices` and `spot_prices` (from `--live-prices`) replace the
    shipped EC2 rates and add spot rates."""
    from mlinfra.engine.cost import estimate, load_prices
    from mlinfra.engine.release_view import releases
    from mlinfra.policy.evaluate import evaluate

    resources = [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "parent": r.parent,
            "inputs": r.inputs,
            "dependencies": r.dependencies,
        }
        for r in sorted(run.resources, key=lambda r: r.urn)
    ]
    graph = ResourceGraph(resources)
    for res in resources:
        res["service"] = graph.service_of(res)
    doc: dict[str, Any] = {
        "project": run.project,
        "stack": run.stack,
        "resources": resources,
        "outputs": run.outputs,
    }
    settings = run.deployment.settings
    pins = {name: pin.image for name, pin in settings.releases.items()}
    doc["releases"] = releases(resources, run.deployment.services, pins)
    doc["cost"] = estimate(doc, load_prices(settings.region, ec2_prices, spot_prices))
    if settings.platform == "eks":
        from mlinfra.spec.schedulability import proof_rows, prove

        fits, _ = prove(settings.node_pools, run.deployment.services, {}, run.deployment.stack_file)
        doc["scheduling"] = proof_rows(fits, settings.node_pools)
    doc["policies"] = evaluate(
        resources, tier=settings.tier, suppressions=settings.policy.suppressions, file=run.deployment.stack_file
    )
    return doc


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def summary_rows(doc: dict[str, Any]) -> dict[str, Counter[str]]:
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for res in doc["resources"]:
        if is_component(res):
            continue  # components are grouping only; they create nothing in the cloud
        groups[res["service"]][res["type"]] += 1
    return dict(sorted(groups.items(), key=lambda kv: (kv[0] != PLATFORM_GROUP, kv[0])))
