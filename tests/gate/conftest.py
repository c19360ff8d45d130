"""Shared fixtures: temp copies of the example project, and each example stack rendered once."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


def platform_of(stack: str) -> str:
    """`mlinfra:platform` of an example stack (the SDK's default is eks)."""
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return str(config.get("mlinfra:platform", "eks"))


# Kubernetes artifacts exist only on EKS stacks; ECS stacks render ecs/ task definitions instead.
EKS_STACKS = [s for s in STACKS if platform_of(s) == "eks"]
ECS_STACKS = [s for s in STACKS if platform_of(s) == "ecs"]
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "services", "stacks")


def copy_project(dest: Path) -> Path:
    """The example project (program, services, stacks) without build output or venvs."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def mlinfra(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh interpreter, as a user (or CI) runs it."""
    return subprocess.run(
        [sys.executable, "-m", "mlinfra", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture(scope="session")
def render_stack(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Render a stack of the example project once per test session; returns the output dir."""
    cache: dict[str, Path] = {}

    def render(stack: str) -> Path:
        if stack not in cache:
            project_dir = copy_project(tmp_path_factory.mktemp(f"project-{stack}"))
            out = tmp_path_factory.mktemp(f"render-{stack}")
            result = mlinfra("render", "--stack", stack, "--out", str(out), "-C", str(project_dir))
            assert result.returncode == 0, result.stderr
            cache[stack] = out
        return cache[stack]

    return render
