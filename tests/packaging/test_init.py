"""`mlinfra init`: the new project plans offline, refuses a non-empty directory, marks what is required."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic.alias_generators import to_camel

from mlinfra.scaffold.init import FILES
from mlinfra.serving.version import __version__
from mlinfra.spec.stack import StackSettings

ROOT = Path(__file__).resolve().parents[2]


def mlinfra(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlinfra", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def new_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("init")
    proc = mlinfra("init", "Team_ML", cwd=parent)
    assert proc.returncode == 0, proc.stderr
    assert "mlinfra plan --stack dev" in proc.stdout
    return parent / "Team_ML"


def test_init_writes_every_file(new_project: Path) -> None:
    written = sorted(str(p.relative_to(new_project)) for p in new_project.rglob("*") if p.is_file())
    assert written == sorted(FILES.values())
    assert yaml.safe_load((new_project / "Pulumi.yaml").read_text())["name"] == "team-ml"
    assert (new_project / "requirements.txt").read_text().splitlines()[-1] == f"mlinfra=={__version__}"
    assert not any(
        "@" in line and line.strip("@ ").isupper() for line in (new_project / "README.md").read_text().splitlines()
    ), "an unreplaced template marker"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_new_project_plans_offline_and_passes_its_policies(new_project: Path, stack: str) -> None:
    proc = mlinfra("plan", "--stack", stack, "--strict", cwd=new_project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "example-model" in proc.stdout
    assert "passed" in proc.stdout


def test_typed_config_is_the_one_this_repository_uses(new_project: Path) -> None:
    ours = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    theirs = yaml.safe_load((new_project / "Pulumi.yaml").read_text())
    assert theirs["config"] == ours["config"]
    keys = {k.removeprefix("mlinfra:") for k in theirs["config"]}
    assert keys == {to_camel(f) for f in StackSettings.model_fields if f != "region"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_required_setting_is_marked(new_project: Path, stack: str) -> None:
    lines = (new_project / "stacks" / f"Pulumi.{stack}.yaml").read_text().splitlines()
    required = [
        ("aws:region" if f == "region" else f"mlinfra:{to_camel(f)}")
        for f, info in StackSettings.model_fields.items()
        if info.is_required()
    ]
    assert len(required) >= 3
    for key in required:
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:"))
        assert lines[at - 1].strip().startswith("# REQUIRED"), f"{key} in Pulumi.{stack}.yaml is not marked"


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    proc = mlinfra("init", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "is not empty" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_init_into_the_current_empty_directory(tmp_path: Path) -> None:
    proc = mlinfra("init", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "next: mlinfra plan --stack dev" in proc.stdout
    assert (tmp_path / "stacks" / "Pulumi.dev.yaml").is_file()


@pytest.mark.tools
def test_new_projects_workflows_pass_actionlint(new_project: Path) -> None:
    from tests.review.test_workflow import _lint

    assert _lint(new_project / ".github" / "workflows" / "infra-review.yml") == []
    assert _lint(new_project / ".github" / "workflows" / "infra-deploy.yml") == []


def test_version_is_shown() -> None:
    proc = mlinfra("--version", cwd=ROOT)
    assert proc.returncode == 0
    assert proc.stdout == f"mlinfra {__version__}\n"
