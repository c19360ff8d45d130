"""Desired-state diff of two plan documents (two stacks, or one stack at two git revisions).

Resources are matched by their logical path: the URN without the stack part, so
`urn:pulumi:staging::p::T::x` and `urn:pulumi:prod::p::T::x` are the same resource. Inside
values the stack's own name is normalised too (tags, ALB group names, build paths), so the
diff shows what really differs between environments, not that they are called differently.
Content hashes (image digests, build-context tags) are collapsed: they churn on every build.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mlinfra.engine.cost import PLATFORM
from mlinfra.engine.release_view import explained_values, release_change

_HEX_RUN = re.compile(r"[0-9a-f]{12,}")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Leaves = dict[str, Any]


def logical_key(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type chain>::<name>` -> `<project>::<type chain>::<name>`."""
    parts = urn.split("::")
    return "::".join(parts[1:]) if len(parts) > 1 else urn


def _stack_pattern(stack: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(stack)}(?![A-Za-z0-9])")


def normalise(value: Any, stack: str) -> Any:
    pattern = _stack_pattern(stack)

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return pattern.sub("{stack}", v)
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    return walk(value)


def _segment(key: str) -> str:
    return f".{key}" if _IDENT.match(key) else f"[{key!r}]"


def flatten(value: Any, prefix: str = "") -> Leaves:
    """Leaf paths -> values. Lists of named objects are keyed by name (stable under reordering);
    lists of scalars stay one value, so `instanceTypes` shows as one change."""
    out: Leaves = {}
    if isinstance(value, dict) and value:
        for k in sorted(value):
            out.update(flatten(value[k], prefix + _segment(str(k))))
    elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        names = [x.get("name") for x in value]
        named = all(isinstance(n, str) for n in names) and len(set(names)) == len(names)
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{'name=' + item['name'] if named else i}]"))
    elif isinstance(value, str) and value[:1] in "{[" and (decoded := _json(value)) is not None:
        # Embedded JSON (IAM policies, ECS container definitions) diffs by its own paths.
        out.update(flatten(decoded, prefix + "<json>"))
    else:
        out[prefix.lstrip(".")] = value
    return out


def _json(text: str) -> Any:
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError:
        return None
    return decoded if isinstance(decoded, dict | list) and decoded else None


def _is_hash_churn(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and _HEX_RUN.sub("#", a) == _HEX_RUN.sub("#", b)


def compare(
    res_a: dict[str, Any], res_b: dict[str, Any], stack_a: str, stack_b: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """(changed properties, collapsed noise paths) between two matched resources."""
    raw_a, raw_b = flatten(res_a["inputs"]), flatten(res_b["inputs"])
    norm_a, norm_b = flatten(normalise(res_a["inputs"], stack_a)), flatten(normalise(res_b["inputs"], stack_b))
    changed, noise = [], []
    for path in sorted(set(norm_a) | set(norm_b)):
        if norm_a.get(path, _ABSENT) == norm_b.get(path, _ABSENT):
            continue
        if _is_hash_churn(norm_a.get(path), norm_b.get(path)):
            noise.append(path)
            continue
        changed.append({"path": path, "a": raw_a.get(path), "b": raw_b.get(path)})
    return changed, noise


class _Absent:
    pass


_ABSENT = _Absent()


def _range_delta(a: dict[str, float] | None, b: dict[str, float] | None) -> dict[str, float]:
    a = a or {"min": 0.0, "max": 0.0}
    b = b or {"min": 0.0, "max": 0.0}
    return {"min": round(b["min"] - a["min"], 2), "max": round(b["max"] - a["max"], 2)}


def diff_documents(
    doc_a: dict[str, Any], doc_b: dict[str, Any], *, label_a: str | None = None, label_b: str | None = None
) -> dict[str, Any]:
    """The diff document: added / removed / changed resources, collapsed noise, per-service summary, cost."""
    stack_a, stack_b = doc_a["stack"], doc_b["stack"]
    by_a = {logical_key(r["urn"]): r for r in doc_a["resources"]}
    by_b = {logical_key(r["urn"]): r for r in doc_b["resources"]}

    def brief(r: dict[str, Any]) -> dict[str, Any]:
        return {"urn": r["urn"], "type": r["type"], "service": r.get("service", PLATFORM)}

    added = [brief(by_b[k]) for k in sorted(set(by_b) - set(by_a))]
    removed = [brief(by_a[k]) for k in sorted(set(by_a) - set(by_b))]
    changed, collapsed = [], []
    for key in sorted(set(by_a) & set(by_b)):
        props, noise = compare(by_a[key], by_b[key], stack_a, stack_b)
        if props:
            changed.append({**brief(by_b[key]), "name": by_b[key]["name"], "properties": props})
        collapsed += [
            {"urn": by_b[key]["urn"], "path": p, "reason": "content hash (image digest / build tag)"} for p in noise
        ]
    cost_a, cost_b = doc_a.get("cost") or {}, doc_b.get("cost") or {}
    result = {
        "a": label_a or stack_a,
        "b": label_b or stack_b,
        "added": added,
        "removed": removed,
        "changed": changed,
        "collapsed": collapsed,
        "cost": {
            "a": cost_a.get("total"),
            "b": cost_b.get("total"),
            "delta": _range_delta(cost_a.get("total"), cost_b.get("total")),
        },
    }
    result["summary"] = summarise(result, doc_a, doc_b)
    return result


def _fmt(v: Any) -> str:
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return "(unset)" if v is None else str(v)


def _describe(change: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Reviewer-language phrases for the properties people ask about; a count for the rest."""
    props = {p["path"]: p for p in change["properties"]}
    phrases: list[str] = []
    used: set[str] = set()

    def pair(lo: str, hi: str, label: str) -> None:
        if lo in props or hi in props:
            a_lo, b_lo = (props[lo]["a"], props[lo]["b"]) if lo in props else (None, None)
            a_hi, b_hi = (props[hi]["a"], props[hi]["b"]) if hi in props else (None, None)
            both = lo in props and hi in props
            a = f"{_fmt(a_lo)}\u2013{_fmt(a_hi)}" if both else _fmt(a_lo if lo in props else a_hi)
            b = f"{_fmt(b_lo)}\u2013{_fmt(b_hi)}" if both else _fmt(b_lo if lo in props else b_hi)
            which = "" if lo in props and hi in props else (" (min)" if lo in props else " (max)")
            phrases.append(f"{label}{which} {a} → {b}")
            used.update({lo, hi})

    kind = change["type"].rsplit(":", 1)[-1]
    if kind == "HorizontalPodAutoscaler":
        pair("spec.minReplicas", "spec.maxReplicas", "replicas")
    elif kind == "ScaledObject":
        pair("spec.minReplicaCount", "spec.maxReplicaCount", "replicas")
    elif kind == "NodeGroup":
        pair("scalingConfig.minSize", "scalingConfig.maxSize", f"{change['name']} nodes")
    for path, p in props.items():
        if path in used:
            continue
        label = {
            "spec.replicas": "replicas",
            "instanceTypes": f"{change['name']} node type",
            "scalingConfig.desiredSize": f"{change['name']} desired nodes",
        }.get(path)
        if kind == "NodePool":
            label = _node_pool_label(change["name"], path)
        if label is None and path.endswith(
            (".resources.limits.cpu", ".resources.limits.memory", ".resources.limits['nvidia.com/gpu']")
        ):
            label = path.rsplit(".", 1)[-1].strip("[]'")
        if label is not None:
            phrases.append(f"{label} {_fmt(p['a'])} → {_fmt(p['b'])}")
            used.add(path)
    return phrases, sorted({_leaf(p) for p in props if p not in used})


# Karpenter NodePools as `karpenter_pools.node_pool_spec` writes them (requirement order fixed).
_NODE_POOL_PATHS = {
    "spec.template.spec.requirements[0].values": "instance types",
    "spec.template.spec.requirements[1].values": "capacity type",
}


def _node_pool_label(name: str, path: str) -> str | None:
    if path.startswith("spec.limits"):
        resource = path.removeprefix("spec.limits").lstrip(".").strip("[]'")
        return f"{name} limit {resource}"
    what = _NODE_POOL_PATHS.get(path)
    return f"{name} {what}" if what else None


def _leaf(path: str) -> str:
    if quoted := re.search(r"\['([^']*)'\]$", path):  # an annotation or label key: its last part
        return quoted.group(1).rsplit("/", 1)[-1]
    return re.split(r"[.\]]", path.rstrip("]'"))[-1].lstrip("[<'").removeprefix("name=") or path


def _explained(change: dict[str, Any], values: set[str]) -> dict[str, Any]:
    """`change` without the properties a release change accounts for (model URI, sha256, pinned image)."""
    if not values:
        return change
    kept = [p for p in change["properties"] if not any(v in str(p["a"]) + str(p["b"]) for v in values)]
    return {**change, "properties": kept}


def summarise(result: dict[str, Any], doc_a: dict[str, Any], doc_b: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per service (platform first): the changes in words and the monthly cost delta.
    A new model or image reads as one release phrase (`model v12 → v13, canary ...`), and the
    properties it explains are not listed again."""
    services_a = (doc_a.get("cost") or {}).get("services") or {}
    services_b = (doc_b.get("cost") or {}).get("services") or {}
    releases_a, releases_b = doc_a.get("releases") or {}, doc_b.get("releases") or {}
    names = {c["service"] for part in ("added", "removed", "changed") for c in result[part]}
    names |= {s for s in set(services_a) | set(services_b) if services_a.get(s) != services_b.get(s)}
    out = []
    for name in sorted(names, key=lambda s: (s != PLATFORM, s)):
        changes: list[str] = []
        release = release_change(releases_a.get(name), releases_b.get(name))
        explained = explained_values(releases_a.get(name), releases_b.get(name)) if release else set()
        if release:
            changes.append(release)
        for part, verb in (("added", "added"), ("removed", "removed")):
            kinds = sorted({r["type"].rsplit(":", 1)[-1] for r in result[part] if r["service"] == name})
            count = sum(1 for r in result[part] if r["service"] == name)
            if count:
                changes.append(f"{count} resource{'s' if count != 1 else ''} {verb} ({', '.join(kinds)})")
        generic: dict[str, tuple[int, set[str]]] = {}
        for change in result["changed"]:
            if change["service"] == name and (change := _explained(change, explained))["properties"]:
                phrases, leaves = _describe(change)
                changes += phrases
                if leaves:
                    kind = change["type"].rsplit(":", 1)[-1]
                    count, seen = generic.get(kind, (0, set()))
                    generic[kind] = (count + 1, seen | set(leaves))
        for kind, (count, names) in sorted(generic.items()):
            shown = ", ".join(sorted(names)[:4]) + (", \u2026" if len(names) > 4 else "")
            times = f" \u00d7{count}" if count > 1 else ""
            changes.append(f"{kind}{times}: {shown}")
        out.append(
            {
                "service": name,
                "changes": changes,
                "cost_delta": _range_delta(services_a.get(name), services_b.get(name)),
            }
        )
    return out


def has_changes(result: dict[str, Any]) -> bool:
    return bool(result["added"] or result["removed"] or result["changed"])
