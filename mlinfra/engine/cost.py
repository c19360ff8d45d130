"""Monthly cost estimate of a plan document, per resource, per service and per stack.

Pricing is data-driven: `PRICERS` (`engine/pricing.py`) maps a resource type token to a function
that turns the recorded inputs into a monthly (low, high) range; the pricers live by platform in
`engine/pricers/`. A type with no entry costs nothing by itself (IAM, Kubernetes objects, route
tables).

Two kinds of line:
- direct: the resource itself is billed (node groups, NAT gateways, KMS keys, Fargate tasks);
  only these add up to the stack total.
- allocated: a workload's share of node capacity it runs on (a Kubernetes Deployment on EKS
  nodes). Shown per service so a reviewer sees what a replica change costs, but not added to
  the stack total, where the nodes are already counted.
"""

from __future__ import annotations

from typing import Any

from mlinfra.engine import pricers as _pricers  # noqa: F401  (registers every pricer)
from mlinfra.engine.graph import PLATFORM_GROUP
from mlinfra.engine.graph import ResourceGraph as Graph
from mlinfra.engine.pricing import PRICERS, Line, Pricer, PriceTable, load_prices, pricer, supported_regions

PLATFORM = PLATFORM_GROUP

__all__ = [
    "PLATFORM",
    "PRICERS",
    "Line",
    "PriceTable",
    "Pricer",
    "estimate",
    "instance_types",
    "load_prices",
    "money",
    "money_range",
    "pricer",
    "supported_regions",
]


def _round(x: float) -> float:
    return round(x + 0.0, 2)


def estimate(doc: dict[str, Any], prices: PriceTable | None) -> dict[str, Any]:
    """The `cost` section of a plan document."""
    resources = doc["resources"]
    if prices is None:
        return {
            "currency": "USD",
            "period": "month",
            "prices": None,
            "resources": [],
            "services": {},
            "total": None,
            "unpriced": [{"urn": None, "type": None, "reason": "no price table for this region"}],
        }
    graph = Graph(resources)
    lines: list[dict[str, Any]] = []
    unpriced: list[dict[str, Any]] = []
    for res in resources:
        fn = PRICERS.get(res["type"])
        result = fn(res, prices, graph) if fn else None
        if isinstance(result, str):
            unpriced.append({"urn": res["urn"], "type": res["type"], "reason": result})
        elif result is not None:
            owner = res.get("service") or graph.service_of(res)
            line = {
                "urn": res["urn"],
                "type": res["type"],
                "service": owner,
                "min": _round(result.low),
                "max": _round(result.high),
                "basis": result.basis,
                "allocated": result.allocated,
            }
            if result.avoided:
                line["avoided"] = _round(result.avoided)
            lines.append(line)
    services: dict[str, dict[str, float]] = {}
    for line in lines:
        entry = services.setdefault(line["service"], {"min": 0.0, "max": 0.0})
        entry["min"] += line["min"]
        entry["max"] += line["max"]
    direct = [x for x in lines if not x["allocated"]]
    return {
        "currency": "USD",
        "period": "month",
        "prices": {
            "region": prices.region,
            "taken": prices.taken,
            "source": prices.source,
            "hours_per_month": prices.hours,
            "assumptions": prices.assumptions,
        },
        "resources": lines,
        "services": {k: {"min": _round(v["min"]), "max": _round(v["max"])} for k, v in sorted(services.items())},
        "total": {"min": _round(sum(x["min"] for x in direct)), "max": _round(sum(x["max"] for x in direct))},
        "avoided": _round(sum(x.get("avoided", 0.0) for x in lines)),
        "unpriced": unpriced,
    }


def instance_types(doc: dict[str, Any]) -> list[str]:
    """EC2 instance types the plan runs (for a live price refresh)."""
    found: set[str] = set()
    for res in doc["resources"]:
        inputs = res["inputs"]
        found.update(str(t) for t in inputs.get("instanceTypes") or [])
        if res["type"] == "kubernetes:karpenter.sh/v1:NodePool":
            requirements = (((inputs.get("spec") or {}).get("template") or {}).get("spec") or {}).get("requirements")
            for req in requirements or []:
                if req.get("key") == "node.kubernetes.io/instance-type":
                    found.update(str(t) for t in req.get("values") or [])
        if res["type"] in ("aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance") and inputs.get(
            "instanceType"
        ):
            found.add(str(inputs["instanceType"]))
    return sorted(found)


def money(x: float) -> str:
    return f"${x:,.2f}"


def money_range(r: dict[str, float] | None) -> str:
    if r is None:
        return "n/a"
    return money(r["min"]) if r["min"] == r["max"] else f"{money(r['min'])}\u2013{money(r['max'])}"
