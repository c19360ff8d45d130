"""Shared fixtures for the ECS tests: offline runs of real stacks and project copies to edit."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlinfra.engine.recorder import RecordedResource
from mlinfra.engine.runner import OfflineRun, run_offline

ROOT = Path(__file__).resolve().parents[2]


def need_tool(available: bool, package: str) -> None:
    """Skip when a test tool is missing, naming the package; in CI a missing tool is a failure."""
    if available:
        return
    message = f"needs {package} (pip install -r requirements-ecs.txt)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: required in CI")
    pytest.skip(message)


class Plan:
    """Query helpers over an offline run's recorded resources."""

    def __init__(self, run: OfflineRun) -> None:
        self.run = run
        self.resources = run.resources

    def of_type(self, typ: str) -> list[RecordedResource]:
        return sorted((r for r in self.resources if r.type == typ), key=lambda r: r.name)

    def one(self, typ: str, name: str) -> RecordedResource:
        found = [r for r in self.resources if r.type == typ and r.name == name]
        assert len(found) == 1, f"expected one {typ} named {name}, got {[r.name for r in self.of_type(typ)]}"
        return found[0]

    def inputs(self, typ: str, name: str) -> dict[str, Any]:
        return self.one(typ, name).inputs


@pytest.fixture(scope="session")
def dev() -> Plan:
    return Plan(run_offline(ROOT, "dev"))


def copy_project(tmp_path: Path) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(
        ROOT,
        dest,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            ".mlinfra",
            "__pycache__",
            ".pytest_cache",
            ".mypy_cache",
            ".ruff_cache",
            "tests",
            "*.egg-info",
        ),
    )
    return dest


@pytest.fixture
def edited_project(tmp_path: Path) -> Callable[..., Path]:
    """A copy of the project whose dev stack config is changed by `edit(config)`."""

    def make(edit: Callable[[dict[str, Any]], None], stack: str = "dev") -> Path:
        root = copy_project(tmp_path)
        path = root / "stacks" / f"Pulumi.{stack}.yaml"
        doc = yaml.safe_load(path.read_text())
        edit(doc["config"])
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return root

    return make


def _prod_public_path(config: dict[str, Any]) -> None:
    config["mlinfra:tier"] = "prod"
    config["mlinfra:ecs"]["alb"] = {"routing": "path", "idleTimeoutSeconds": 120}
    config["mlinfra:services"]["fraud-detector"].update(
        {
            "public": True,
            "auth": "api_key",
            "secrets": ["api-keys", "fraud-api-key"],
            "allowedCidrs": ["203.0.113.0/24"],
        }
    )
    config["mlinfra:secretArns"] = {
        "api-keys": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-keys-AbCdEf"
    }


@pytest.fixture(scope="module")
def prod_public(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    root = copy_project(tmp_path_factory.mktemp("prod"))
    path = root / "stacks" / "Pulumi.dev.yaml"
    doc = yaml.safe_load(path.read_text())
    _prod_public_path(doc["config"])
    path.write_text(yaml.safe_dump(doc))
    return Plan(run_offline(root, "dev"))
