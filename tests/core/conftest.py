"""Fixtures for the SDK core: offline runs of the example stacks and of throwaway projects."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mlinfra.engine.recorder import RecordedResource
from mlinfra.engine.runner import OfflineRun, run_offline

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def staging() -> OfflineRun:
    return run_offline(ROOT, "staging")


@pytest.fixture(scope="session")
def prod() -> OfflineRun:
    return run_offline(ROOT, "prod")


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """A copy of the example project with services and stack files replaced as given."""

    counter = iter(range(1000))

    def make(services: dict[str, str] | None = None, stacks: dict[str, str] | None = None) -> Path:
        root = tmp_path / f"project{next(counter)}"
        root.mkdir()
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy(ROOT / name, root / name)
        (root / "services").mkdir()
        (root / "stacks").mkdir()
        if services is None:
            for path in (ROOT / "services").glob("*.py"):
                shutil.copy(path, root / "services" / path.name)
        else:
            for name, text in services.items():
                (root / "services" / name).write_text(text)
        if stacks is None:
            for path in (ROOT / "stacks").glob("Pulumi.*.yaml"):
                shutil.copy(path, root / "stacks" / path.name)
        else:
            for name, text in stacks.items():
                (root / "stacks" / f"Pulumi.{name}.yaml").write_text(text)
        return root

    return make


def only(run: OfflineRun, rtype: str, name: str | None = None) -> RecordedResource:
    found = [r for r in run.resources if r.type == rtype and (name is None or r.name == name)]
    assert len(found) == 1, f"expected one {rtype} {name or ''}, found {[r.name for r in found]}"
    return found[0]


def all_of(run: OfflineRun, rtype: str) -> list[RecordedResource]:
    return [r for r in run.resources if r.type == rtype]


STACK_HEADER = """config:
  aws:region: us-east-1
  mlinfra:tier: staging
  mlinfra:domain: ml.example.com
  mlinfra:certificateArn: arn:aws:acm:us-east-1:123456789012:certificate/0b5c6d2e-1f3a-4b7c-9d8e-2a4f6b8c0d1e
  mlinfra:eks:
    deployerCidrs: [203.0.113.0/24]
    admins: [arn:aws:iam::123456789012:role/mlinfra-deployer]
"""
