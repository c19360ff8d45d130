"""Upstream truth: mlinfra's output held against upstream sources at the pinned versions.

The fixtures under tests/fixtures/upstream/ were taken from the upstream repositories by
tests/fixtures/upstream/refresh.py; each directory's ORIGIN.md names repository, ref, commit, path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlinfra.engine.runner import OfflineRun, run_offline

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = ROOT / "tests" / "fixtures" / "upstream"


def origin(directory: Path) -> dict[str, str]:
    """The `- key: value` lines of a fixture directory's ORIGIN.md."""
    text = (directory / "ORIGIN.md").read_text()
    return dict(re.findall(r"^- ([\w.-]+): (.+)$", text, re.M))


def chart_fixture(chart: str) -> Path:
    path = UPSTREAM / "charts" / chart
    assert (path / "ORIGIN.md").exists(), (
        f"no upstream fixture for chart {chart}: add it to tests/fixtures/upstream/refresh.py and rerun it"
    )
    return path


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def eks_runs() -> dict[str, OfflineRun]:
    return {stack: run_offline(ROOT, stack) for stack in ("staging", "prod")}
