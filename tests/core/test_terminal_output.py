"""The terminal views of plan and diff: Pulumi's tree and short types, 80 columns, colour only on a TTY."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlinfra.engine.cost import money_range
from mlinfra.engine.terminal import ELLIPSIS, _segments, short_type

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = ROOT / "tests" / "fixtures" / "upstream" / "pulumi-type-display"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TREE = re.compile(r"^[\s\u2502]*[\u251c\u2514]\u2500 ")


def mlinfra(*args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "mlinfra", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


@pytest.fixture(scope="module")
def staging_doc() -> dict[str, Any]:
    proc = mlinfra("plan", "--stack", "staging", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


@pytest.fixture(scope="module")
def plan_text() -> str:
    proc = mlinfra("plan", "--stack", "staging")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def diff_pair() -> tuple[dict[str, Any], str]:
    doc, text = mlinfra("diff", "staging", "prod", "--format", "json"), mlinfra("diff", "staging", "prod")
    assert doc.returncode == 0, doc.stderr
    assert text.returncode == 0, text.stderr
    return json.loads(doc.stdout), text.stdout


def test_short_type_matches_pulumi() -> None:
    cases = json.loads((UPSTREAM / "cases.json").read_text())
    assert len(cases) >= 6
    for give, want in cases:
        assert short_type(give) == want, give
    assert short_type("aws:eks/nodeGroup:NodeGroup") == "aws:eks:NodeGroup"
    assert short_type("kubernetes:apps/v1:Deployment") == "kubernetes:apps/v1:Deployment"


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if TREE.match(line)]


def test_piped_plan_prints_only_the_plan() -> None:
    proc = mlinfra("plan", "--stack", "dev")
    assert proc.returncode == 0
    assert proc.stderr == "", "progress belongs on a terminal only"
    assert not ANSI.search(proc.stdout)


def test_plan_is_a_tree_at_80_columns_without_escape_codes(plan_text: str, staging_doc: dict[str, Any]) -> None:
    lines = plan_text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert not ANSI.search(plan_text), "piped output must be plain text"
    # One row per resource, in its group's block, each under its component: a child's row is
    # deeper than its parent's and comes after it.
    resources = staging_doc["resources"]
    groups = {r["service"] for r in resources}
    rows: list[tuple[str, str]] = []  # (group, row)
    group = ""
    for line in lines:
        if line.split("  ")[0] in groups:
            group = line.split("  ")[0]
        elif TREE.match(line):
            rows.append((group, line))
    assert len(rows) == len(resources)
    position: dict[str, int] = {}
    for res in resources:
        wanted = short_type(res["type"])
        found = [
            i
            for i, (g, row) in enumerate(rows)
            if g == res["service"]
            and row[TREE.match(row).end() :].startswith(wanted + "  ")  # type: ignore[union-attr]
            and (
                row.endswith("  " + res["name"])
                or (ELLIPSIS in row and res["name"].endswith(row.rsplit(ELLIPSIS, 1)[1]))
            )
        ]
        assert len(found) == 1, f"{res['type']} {res['name']}: {found}"
        position[res["urn"]] = found[0]
    depth = {urn: TREE.match(rows[i][1]).end() for urn, i in position.items()}  # type: ignore[union-attr]
    for res in resources:
        parent = res["parent"]
        if parent in position and next(r for r in resources if r["urn"] == parent)["service"] == res["service"]:
            assert position[parent] < position[res["urn"]]
            assert depth[res["urn"]] == depth[parent] + 3, res["name"]


def test_plan_costs_are_a_column_of_group_totals(plan_text: str, staging_doc: dict[str, Any]) -> None:
    services = staging_doc["cost"]["services"]
    heads = [line for line in plan_text.splitlines() if line.split("  ")[0] in services]
    assert [h.split("  ")[0] for h in heads] == ["(platform)", "fraud-detector", "search-ranker"]
    for head in heads:
        assert head.endswith(money_range(services[head.split("  ")[0]]))
        assert len(head) == 80, "the cost column is right-aligned at the width"
    assert not any("$" in row for row in _rows(plan_text)), "cost belongs to the group row, not a resource's"


def test_wide_shows_full_type_tokens() -> None:
    proc = mlinfra("plan", "--stack", "staging", "--wide")
    assert proc.returncode == 0, proc.stderr
    assert "kubernetes:karpenter.sh/v1:NodePool  platform-pools-gpu-a10g" in proc.stdout
    assert "fraud-detector-servicemonitor" in proc.stdout
    assert ELLIPSIS not in "".join(_rows(proc.stdout))


def test_diff_at_80_columns_shows_every_changed_leaf_under_its_resource(diff_pair: tuple[dict[str, Any], str]) -> None:
    doc, text = diff_pair
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert not ANSI.search(text)
    heads = [i for i, line in enumerate(lines) if re.match(r"^  [+~-] \S", line)]
    assert len(heads) == len(doc["changed"]) + len(doc["added"]) + len(doc["removed"])
    assert doc["changed"]
    assert doc["added"]
    assert doc["removed"]
    for op, part in (("~", "changed"), ("+", "added"), ("-", "removed")):
        for res in doc[part]:
            name = res.get("name") or res["urn"].rsplit("::", 1)[-1]
            head = next(i for i in heads if lines[i] == f"  {op} {short_type(res['type'])}  {name}")
            block = lines[head + 1 : next((i for i in heads if i > head), len(lines))]
            for prop in res.get("properties", []):
                leaf = _segments(prop["path"])[-1].lstrip(".")
                assert any(re.match(rf"^\s+[+~-] {re.escape(leaf)}(:|$)", line) for line in block), (
                    f"{name}: {prop['path']} not shown"
                )


def test_diff_shows_where_long_values_differ(diff_pair: tuple[dict[str, Any], str]) -> None:
    _, text = diff_pair
    lines = text.splitlines()
    at = lines.index(
        next(line for line in lines if line.strip() == "~ ['alb.ingress.kubernetes.io/load-balancer-attributes']")
    )
    before, after = lines[at + 1].strip(), lines[at + 2].strip()
    assert before.startswith("- ")
    assert after.startswith("+ ")
    assert "deletion_protection.enabled=true" in after
    assert before[2:] != after[2:]


def test_colour_only_on_a_terminal() -> None:
    import fcntl
    import struct
    import termios

    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlinfra", "diff", "staging", "prod"],
        cwd=ROOT,
        env=env,
        stdin=child,
        stdout=child,
        stderr=child,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=300) == 0
    os.close(main)
    shown = b"".join(chunks).decode(errors="replace")
    assert ANSI.search(shown), "no colour on a terminal"
    assert "resources registered" in shown, "no progress on a terminal"
    # What the terminal ends up showing: a `\r` (the progress spinner) returns to the line's start.
    plain = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in ANSI.sub("", shown).split("\n"))
    assert "~ aws:eks:NodeGroup  platform-eks-system" in plain
    assert max(len(line) for line in plain.splitlines()) <= 80
