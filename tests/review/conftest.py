"""Shared fixtures: the example project copied to a temp dir, and the CLI run as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "stacks", "services")
# What the CLI lists for an unknown stack: every stacks/Pulumi.<stack>.yaml, sorted.
AVAILABLE_STACKS = ", ".join(
    sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
)


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    return dest


def mlinfra(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it (its own process, so Pulumi's global state is fresh)."""
    return subprocess.run(
        [sys.executable, "-m", "mlinfra", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        timeout=300,
        check=False,
    )


def assert_bad_input(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, f"{needle!r} not in: {proc.stderr}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture(scope="session")
def plans() -> dict[str, dict[str, Any]]:
    """Plan documents of the example stacks, planned once per test session."""
    out = {}
    for stack in ("staging", "prod"):
        proc = mlinfra("plan", "--stack", stack, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        out[stack] = json.loads(proc.stdout)
    return out
