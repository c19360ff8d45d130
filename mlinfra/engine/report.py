"""Markdown renderings of plan and diff documents, for a pull-request comment.

JSON is the documents themselves (`plan.to_json`); the terminal view is `terminal.py`.
"""

from __future__ import annotations

import json
from typing import Any

from mlinfra.engine.cost import money, money_range
from mlinfra.engine.plan import summary_rows
from mlinfra.engine.release_view import release_line
from mlinfra.spec.schedulability import proof_lines

MAX_VALUE = 80


def _value(v: Any) -> str:
    text = "(unset)" if v is None else v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _md(v: Any) -> str:
    return "`" + _value(v).replace("|", "\\|").replace("`", "'") + "`"


def signed(delta: dict[str, float]) -> str:
    def one(x: float) -> str:
        return ("+" if x > 0 else "-" if x < 0 else "±") + money(abs(x))

    if delta["min"] == delta["max"]:
        return f"{one(delta['min'])}/month"
    return f"{one(delta['min'])} to {one(delta['max'])}/month"


# ---------------------------------------------------------------- plan


def plan_markdown(doc: dict[str, Any]) -> str:
    groups = summary_rows(doc)
    total = sum(sum(c.values()) for c in groups.values())
    cost, pol = doc.get("cost") or {}, doc.get("policies") or {}
    services = cost.get("services") or {}
    lines = [
        f"### {doc['project']} / {doc['stack']}: {total} resources, {money_range(cost.get('total'))}/month",
        "",
        "| group | type | count | monthly cost |",
        "| --- | --- | ---: | ---: |",
    ]
    for group, counts in groups.items():
        for i, (t, n) in enumerate(sorted(counts.items())):
            shown = money_range(services.get(group)) if i == 0 else ""
            lines.append(f"| {group if i == 0 else ''} | `{t}` | {n} | {shown} |")
    releases = doc.get("releases") or {}
    if releases:
        lines += ["", "Releases:", "", *(f"- {release_line(name, r)}" for name, r in sorted(releases.items()))]
    lines += ["", _prices_note(cost), "", *proof_markdown(doc.get("scheduling") or []), *policies_markdown(pol)]
    return "\n".join(lines) + "\n"


def proof_markdown(rows: list[dict[str, Any]]) -> list[str]:
    lines = proof_lines(rows)
    return [f"_{lines[0]}_", "", *(f"- {line.strip()}" for line in lines[1:]), ""] if lines else []


def _prices_note(cost: dict[str, Any]) -> str:
    prices = cost.get("prices")
    if not prices:
        return "_Cost: no price table for this region._"
    note = (
        f"_Cost: on-demand {prices['region']} prices taken {prices['taken']}; "
        "autoscaled resources as min\u2013max; "
        "workload lines are shares of node capacity, not added to the total._"
    )
    unpriced = cost.get("unpriced") or []
    return note + (f" _{len(unpriced)} resource(s) could not be priced._" if unpriced else "")


def policies_markdown(pol: dict[str, Any]) -> list[str]:
    if not pol:
        return []
    head = (
        f"**Policies ({pol['tier']}, {pol['rules']} rules):** "
        + ("passed" if pol["passed"] else f"{pol['violations']} violation(s)")
        + (f", {pol['suppressed']} suppressed" if pol["suppressed"] else "")
    )
    lines = [head]
    if pol["findings"]:
        lines += ["", "| id | severity | resource | finding | suppressed because |", "| --- | --- | --- | --- | --- |"]
        lines += [
            f"| {f['id']} | {f['severity']} | `{f['urn'].rsplit('::', 1)[-1]}` | {f['message']} | "
            f"{f['suppressed'] or ''} |"
            for f in pol["findings"]
        ]
    return lines


# ---------------------------------------------------------------- diff


def summary_lines(result: dict[str, Any]) -> list[str]:
    out = []
    for entry in result["summary"]:
        words = ", ".join(entry["changes"]) or "no resource changes"
        delta = entry["cost_delta"]
        cost = "" if delta == {"min": 0.0, "max": 0.0} else f", {signed(delta)}"
        out.append(f"{entry['service']}: {words}{cost}")
    return out


def diff_markdown(result: dict[str, Any]) -> str:
    from mlinfra.engine.diff import has_changes

    a, b = result["a"], result["b"]
    lines = [f"### mlinfra diff: `{a}` → `{b}`", ""]
    if not has_changes(result):
        lines.append("No changes.")
    else:
        lines.append(
            f"{len(result['added'])} added, {len(result['removed'])} removed, {len(result['changed'])} changed."
        )
        lines += ["", *(f"- {line}" for line in summary_lines(result))]
    cost = result["cost"]
    lines += [
        "",
        "| monthly cost | " + a + " | " + b + " | delta |",
        "| --- | ---: | ---: | ---: |",
        f"| total | {money_range(cost['a'])} | {money_range(cost['b'])} | {signed(cost['delta'])} |",
    ]
    if result["changed"]:
        lines += [
            "",
            "<details><summary>Changed properties</summary>",
            "",
            f"| resource | property | {a} | {b} |",
            "| --- | --- | --- | --- |",
        ]
        for change in result["changed"]:
            for p in change["properties"]:
                lines.append(f"| `{change['name']}` | `{p['path']}` | {_md(p['a'])} | {_md(p['b'])} |")
        lines += ["", "</details>"]
    for part in ("added", "removed"):
        if result[part]:
            lines += ["", f"<details><summary>{part.capitalize()} ({len(result[part])})</summary>", ""]
            lines += [f"- `{r['urn'].split('::', 2)[-1]}` ({r['service']})" for r in result[part]]
            lines += ["", "</details>"]
    if result["collapsed"]:
        lines += ["", f"_{len(result['collapsed'])} content-hash change(s) collapsed (image digests, build tags)._"]
    return "\n".join(lines) + "\n"
