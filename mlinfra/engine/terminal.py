"""Plan and diff for a terminal, in the idiom of `pulumi preview` / `pulumi preview --diff`.

The plan is a tree: the platform, then each service, each resource indented under the
component that created it. The diff marks resources and properties with `+` / `~` / `-`
and shows a changed property as its leaf under the object path it belongs to, so no path
is ever wrapped. Every line fits `width` (a terminal's width, 80 when piped); `width=None`
(`--wide`) shows full type tokens and never shortens anything. Colour comes from rich
styles, which rich drops when the output is not a terminal.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.text import Text

from mlinfra.engine.cost import money_range
from mlinfra.engine.plan import PLATFORM_GROUP
from mlinfra.engine.release_view import release_line
from mlinfra.spec.schedulability import proof_lines

ELLIPSIS = "\u2026"
OP_STYLE = {"+": "green", "~": "yellow", "-": "red"}
COMPONENT_PREFIX = "mlinfra:index:"
_SEGMENT = re.compile(r"<json>|\[(?:'[^']*'|[^\]]*)\]|\.?[^.\[<]+")


def short_type(token: str) -> str:
    """Pulumi's display name of a type token (`tokens.Type.DisplayName` in pulumi/pulumi):
    `aws:eks/nodeGroup:NodeGroup` -> `aws:eks:NodeGroup`. The module's last `/` part is dropped
    only when it is the type's name in camelCase; anything else stays as it is."""
    parts = token.split(":")
    if len(parts) != 3 or not parts[2]:
        return token
    pkg, module, name = parts
    head, slash, file = module.rpartition("/")
    if not slash or file != name[0].lower() + name[1:]:
        return token
    return f"{pkg}:{head}:{name}"


def fit(text: str, room: int | None) -> str:
    """`text` cut to `room` characters with an ellipsis; `None` never cuts."""
    if room is None or len(text) <= room:
        return text
    return text[: max(room - 1, 0)] + ELLIPSIS


def fit_left(text: str, room: int | None) -> str:
    """Like `fit`, but keeps the end (the part of a path nearest its leaf)."""
    if room is None or len(text) <= room:
        return text
    return ELLIPSIS + text[len(text) - max(room - 1, 0) :]


def _prose(text: str, width: int | None, indent: str = "", style: str = "") -> list[Text]:
    if width is None:
        return [Text(indent + text, style=style)]
    lines = textwrap.wrap(
        text, width=width, initial_indent=indent, subsequent_indent=indent + "  ", break_on_hyphens=False
    ) or [indent]
    return [Text(line, style=style) for line in lines]


def _type(token: str, wide: bool) -> str:
    return token if wide else short_type(token)


# ---------------------------------------------------------------- plan


@dataclass
class _Node:
    res: dict[str, Any]
    children: list[_Node] = field(default_factory=list)


def _tree(resources: list[dict[str, Any]]) -> dict[str, list[_Node]]:
    """Per group (platform, each service): the top-level nodes, children under their parent."""
    nodes = {r["urn"]: _Node(r) for r in resources}
    roots: dict[str, list[_Node]] = defaultdict(list)
    for node in nodes.values():
        parent = nodes.get(node.res.get("parent") or "")
        if parent is not None and parent.res["service"] == node.res["service"]:
            parent.children.append(node)
        else:
            roots[node.res["service"]].append(node)

    def order(items: list[_Node]) -> None:
        # Components first (they read as headings), then by type and name, as a reviewer scans.
        items.sort(key=lambda n: (not n.children, short_type(n.res["type"]), n.res["name"]))
        for item in items:
            order(item.children)

    for items in roots.values():
        order(items)
    return roots


def _resource_line(prefix: str, type_: str, name: str, parent_name: str | None, width: int | None) -> Text:
    """`prefix type  name`; a name too long loses its parent's name first (`…-suffix`), then its end."""
    room = None if width is None else width - len(prefix) - len(type_) - 2
    if room is not None and len(name) > room and parent_name and name.startswith(parent_name + "-"):
        name = ELLIPSIS + name[len(parent_name) :]
    line = Text(prefix, style="dim")
    line.append(fit(type_, None if width is None else width - len(prefix)))
    if room is None or room > 1:
        line.append("  " + fit(name, room), style="cyan")
    return line


def _with_cost(left: Text, cost: str, width: int | None, column: int) -> Text:
    """`left`, then `cost` right-aligned at `width` (or at `column` when wide)."""
    edge = column if width is None else width
    gap = max(edge - len(left.plain) - len(cost), 2)
    return left + Text(" " * gap) + Text(cost, style="bold")


def plan_tree(doc: dict[str, Any], *, width: int | None = 80) -> Group:
    """The plan as `pulumi preview` shows it, with each group's monthly cost in its own column."""
    wide = width is None
    cost, pol = doc.get("cost") or {}, doc.get("policies") or {}
    services = cost.get("services") or {}
    roots = _tree(doc["resources"])
    groups = sorted(roots, key=lambda g: (g != PLATFORM_GROUP, g))
    counted = [r for r in doc["resources"] if not r["type"].startswith(COMPONENT_PREFIX)]
    per_group = {g: sum(1 for r in counted if r["service"] == g) for g in groups}

    body: list[tuple[Text, str | None]] = []  # (line, cost shown at the right of it)

    def walk(items: list[_Node], indent: str, parent_name: str | None) -> None:
        for i, node in enumerate(items):
            last = i == len(items) - 1
            body.append(
                (
                    _resource_line(
                        indent + ("\u2514\u2500 " if last else "\u251c\u2500 "),
                        _type(node.res["type"], wide),
                        node.res["name"],
                        parent_name,
                        width,
                    ),
                    None,
                )
            )
            walk(node.children, indent + ("   " if last else "\u2502  "), node.res["name"])

    for group in groups:
        noun = "resource" if per_group[group] == 1 else "resources"
        body.append(
            (
                Text(group, style="bold") + Text(f"  {per_group[group]} {noun}", style="dim"),
                money_range(services.get(group)) if services.get(group) else "",
            )
        )
        walk(roots[group], "", None)

    column = max((len(line.plain) for line, _ in body), default=0) + 2 + max((len(c) for _, c in body if c), default=0)
    header = _with_cost(Text("Type  Name"), "Monthly", width, column)
    header.stylize("dim")
    lines: list[Text] = [
        Text(
            f"{doc['project']} / {doc['stack']}: {len(counted)} resources to create, "
            f"{money_range(cost.get('total'))}/month",
            style="bold",
        ),
        Text(""),
        header,
    ]
    lines += [_with_cost(line, c, width, column) if c is not None else line for line, c in body]
    lines.append(Text(""))
    if doc.get("releases"):
        lines.append(Text("Releases", style="bold"))
        for name, release in sorted(doc["releases"].items()):
            lines += _prose(release_line(name, release), width, indent="  ")
        lines.append(Text(""))
    lines += _prose(prices_note(cost), width, style="dim")
    for line in proof_lines(doc.get("scheduling") or []):
        lines += _prose(line, width)
    if pol:
        lines += policy_lines(pol, width)
    return Group(*lines)


def prices_note(cost: dict[str, Any]) -> str:
    prices = cost.get("prices")
    if not prices:
        return "Cost: no price table for this region."
    note = (
        f"Cost: on-demand {prices['region']} prices taken {prices['taken']}; autoscaled resources as "
        "min\u2013max; workload lines are shares of node capacity, not added to the total."
    )
    unpriced = cost.get("unpriced") or []
    return note + (f" {len(unpriced)} resource(s) could not be priced." if unpriced else "")


def policy_lines(pol: dict[str, Any], width: int | None) -> list[Text]:
    status = "passed" if pol["passed"] else f"{pol['violations']} violation(s)"
    head = f"Policies ({pol['tier']}, {pol['rules']} rules): {status}, {pol['suppressed']} suppressed"
    lines = _prose(head, width, style="green" if pol["passed"] else "bold red")
    for f in pol["findings"]:
        style = "dim" if f["suppressed"] else "red" if f["severity"] in ("critical", "high") else "yellow"
        mark = "s" if f["suppressed"] else "x"
        lines += _prose(
            f"{mark} {f['id']} [{f['severity']}] {f['urn'].rsplit('::', 1)[-1]}: {f['message']}",
            width,
            indent="  ",
            style=style,
        )
        if f["suppressed"]:
            lines += _prose(f"suppressed because: {f['suppressed']}", width, indent="      ", style="dim")
    return lines


# ---------------------------------------------------------------- diff


def _shown(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _segments(path: str) -> list[str]:
    found = _SEGMENT.findall(path)
    return found if "".join(found) == path else [path]


def _around_difference(a: str, b: str, room: int) -> tuple[str, str]:
    """Two long values cut so that where they first differ is on screen (`…` before it)."""
    same = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    context = 12
    if same <= room - context:
        return a, b
    start = same - context
    return ELLIPSIS + a[start:], ELLIPSIS + b[start:]


@dataclass
class _Trie:
    children: dict[str, _Trie] = field(default_factory=dict)
    change: dict[str, Any] | None = None


def _property_lines(props: list[dict[str, Any]], indent: str, width: int | None) -> list[Text]:
    root = _Trie()
    for p in props:
        node = root
        for seg in _segments(p["path"]):
            node = node.children.setdefault(seg, _Trie())
        node.change = p
    out: list[Text] = []

    def leaf(label: str, p: dict[str, Any], pad: str) -> None:
        op = "+" if p["a"] is None else "-" if p["b"] is None else "~"
        a, b = _shown(p["a"]), _shown(p["b"])
        text = {"+": b, "-": a}.get(op, f"{a} => {b}")
        line = f"{pad}{op} {label}: {text}"
        if width is None or len(line) <= width:
            out.append(Text(line, style=OP_STYLE[op]))
            return
        out.append(Text(fit(f"{pad}{op} {label}", width), style=OP_STYLE[op]))
        if op == "~":
            a, b = _around_difference(a, b, width - len(pad) - 6)
        for mark, value in (("-", a), ("+", b)):
            if (mark == "-" and op != "+") or (mark == "+" and op != "-"):
                out.append(Text(fit(f"{pad}    {mark} {value}", width), style=OP_STYLE[mark]))

    def walk(node: _Trie, pad: str) -> None:
        for seg in sorted(node.children):
            child, label = node.children[seg], seg.lstrip(".")
            # One-child chains collapse into one heading: `spec.template.spec.containers[name=model]`.
            while child.change is None and len(child.children) == 1:
                ((nxt, grand),) = child.children.items()
                if grand.change is not None and not grand.children:
                    break
                label += nxt
                child = grand
            if child.change is not None:
                leaf(label, child.change, pad)
            if child.children:
                out.append(Text(pad + fit_left(label, None if width is None else width - len(pad)), style="dim"))
                walk(child, pad + "  ")

    walk(root, indent)
    return out


def diff_tree(result: dict[str, Any], *, width: int | None = 80) -> Group:
    """The diff as `pulumi preview --diff` shows it: per service, `+`/`~`/`-` resources, changed leaves."""
    from mlinfra.engine.diff import has_changes
    from mlinfra.engine.report import signed, summary_lines

    wide = width is None
    cost = result["cost"]
    lines: list[Text] = [Text(f"mlinfra diff {result['a']} \u2192 {result['b']}", style="bold")]
    if not has_changes(result):
        lines.append(Text("No changes.", style="green"))
    else:
        lines += _prose(
            f"{len(result['added'])} to add, {len(result['changed'])} to change, {len(result['removed'])} to remove",
            width,
        )
    lines += _prose(
        f"Monthly cost: {money_range(cost['a'])} \u2192 {money_range(cost['b'])} ({signed(cost['delta'])})", width
    )
    summary = summary_lines(result)
    if summary:
        lines.append(Text(""))
        for line in summary:
            lines += _prose(line, width)

    entries: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for op, part in (("+", "added"), ("-", "removed"), ("~", "changed")):
        for r in result[part]:
            entries[r["service"]].append((op, r))
    for group in sorted(entries, key=lambda g: (g != PLATFORM_GROUP, g)):
        lines += [Text(""), Text(group, style="bold")]
        for op, r in sorted(entries[group], key=lambda e: (e[1]["urn"].rsplit("::", 1)[-1], e[0])):
            name = r.get("name") or r["urn"].rsplit("::", 1)[-1]
            type_ = _type(r["type"], wide)
            head = Text(f"  {op} ", style=OP_STYLE[op]) + Text(type_, style=OP_STYLE[op])
            room = None if width is None else width - len(head.plain) - 2
            if room is None or room > 1:
                head.append("  " + fit(name, room), style="cyan")
            lines.append(head)
            if op == "~":
                lines += _property_lines(r["properties"], "      ", width)
    if result["collapsed"]:
        lines += [
            Text(""),
            *_prose(
                f"{len(result['collapsed'])} content-hash change(s) collapsed (image digests, build tags)",
                width,
                style="dim",
            ),
        ]
    return Group(*lines)
