"""Run every rule over a plan's resources, apply the stack's suppressions, summarise."""

from __future__ import annotations

from collections import Counter
from fnmatch import fnmatchcase
from typing import Any

from mlinfra.errors import Problem, SpecError
from mlinfra.policy.rules import RULES, SEVERITIES, Graph, Resource, rule_ids
from mlinfra.spec.stack import Suppression

SUPPRESSIONS_FIELD = "mlinfra:policy.suppressions"


def check_suppressions(suppressions: tuple[Suppression, ...], file: str) -> None:
    """Unknown rule ids are bad input: a typo must not silently keep a finding visible forever."""
    known = set(rule_ids())
    problems = [
        Problem(file, f"{SUPPRESSIONS_FIELD}[{i}].id", s.id, f"a known rule id: {', '.join(sorted(known))}")
        for i, s in enumerate(suppressions)
        if s.id not in known
    ]
    if problems:
        raise SpecError(problems)


def _suppressed_by(finding: dict[str, Any], res: Resource, suppressions: tuple[Suppression, ...]) -> Suppression | None:
    for s in suppressions:
        names = (res.get("name", ""), res["urn"])
        if s.id == finding["id"] and any(fnmatchcase(n, s.resource) for n in names):
            return s
    return None


def findings(resources: list[Resource], *, production: bool) -> list[tuple[dict[str, Any], Resource]]:
    """Every violation as (finding, resource), in a stable order."""
    graph = Graph(resources, production=production)
    out = []
    for rule in sorted(RULES, key=lambda r: r.id):
        if rule.prod_only and not production:
            continue
        for res in graph.of_type(*rule.types):
            for message in rule.check(res, graph):
                out.append(
                    (
                        {
                            "id": rule.id,
                            "severity": rule.severity,
                            "title": rule.title,
                            "urn": res["urn"],
                            "type": res["type"],
                            "service": res.get("service"),
                            "message": message,
                        },
                        res,
                    )
                )
    out.sort(key=lambda fr: (SEVERITIES.index(fr[0]["severity"]), fr[0]["id"], fr[0]["urn"], fr[0]["message"]))
    return out


def evaluate(
    resources: list[Resource], *, tier: str, suppressions: tuple[Suppression, ...] = (), file: str = "<stack>"
) -> dict[str, Any]:
    """The `policies` section of a plan document."""
    check_suppressions(suppressions, file)
    results = []
    used: set[int] = set()
    for finding, res in findings(resources, production=tier == "prod"):
        s = _suppressed_by(finding, res, suppressions)
        if s is not None:
            used.add(suppressions.index(s))
        results.append({**finding, "suppressed": None if s is None else s.reason})
    open_ = [f for f in results if f["suppressed"] is None]
    return {
        "tier": tier,
        "rules": len([r for r in RULES if tier == "prod" or not r.prod_only]),
        "findings": results,
        "violations": len(open_),
        "suppressed": len(results) - len(open_),
        "by_severity": dict(sorted(Counter(f["severity"] for f in open_).items())),
        "unused_suppressions": [
            {"id": s.id, "resource": s.resource} for i, s in enumerate(suppressions) if i not in used
        ],
        "passed": not open_,
    }
