"""Alertmanager routing and dashboards, held against the real validators and the chart.

- `amtool check-config` passes on the configuration every example stack renders.
- Every kube-prometheus-stack key mlinfra sets exists in the chart's values.yaml at the pinned
  version (tests/fixtures/upstream/kube-prometheus-stack), the chart's defaults merged with
  mlinfra's values give exactly the rendered configuration (Helm merges maps and replaces
  lists, so a key left unset would keep the chart's default), and the dashboard ConfigMaps
  carry the Grafana sidecar's label.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlinfra.components.addons import CHARTS
from mlinfra.monitoring.dashboards import DASHBOARD_LABEL
from mlinfra.monitoring.eks import deep_merge, kube_prometheus_stack_values
from mlinfra.spec.loader import load_deployment, read_stack_file
from tests.gate import tools
from tests.gate.conftest import ECS_STACKS, EKS_STACKS, ROOT, STACKS

FIXTURE = ROOT / "tests" / "fixtures" / "upstream" / "kube-prometheus-stack"


def _chart_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((FIXTURE / "values.yaml").read_text())
    return values


def _settings(stack: str) -> Any:
    return load_deployment(ROOT, "mlinfra", stack, read_stack_file(ROOT, stack)).settings


def _paths(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path mlinfra sets; Alertmanager's own config is free-form below `config`."""
    out = []
    for key, value in doc.items():
        path = (*prefix, key)
        out.append(path)
        if isinstance(value, dict) and path != ("alertmanager", "config"):
            out += _paths(value, path)
    return out


def test_fixture_is_the_pinned_chart_version() -> None:
    tag = re.search(r"Tag: `kube-prometheus-stack-([0-9.]+)`", (FIXTURE / "ORIGIN.md").read_text())
    assert tag is not None
    assert tag.group(1) == CHARTS["kube-prometheus-stack"].version, "chart pin bumped without its fixture"


@pytest.mark.parametrize("stack", EKS_STACKS)
def test_every_value_mlinfra_sets_is_a_chart_key(stack: str) -> None:
    chart = _chart_values()
    for path in _paths(kube_prometheus_stack_values(_settings(stack))):
        node: Any = chart
        for key in path:
            assert isinstance(node, dict), f"{'.'.join(path)}: the chart has no map here"
            assert key in node, f"{'.'.join(path)} is not a key of the chart"
            node = node[key]


@pytest.mark.parametrize("stack", EKS_STACKS)
def test_chart_defaults_merged_with_mlinfra_values_are_the_rendered_config(stack: str) -> None:
    ours = kube_prometheus_stack_values(_settings(stack))["alertmanager"]["config"]
    default = _chart_values()["alertmanager"]["config"]
    assert default["route"]["receiver"] == "null"  # what the chart would do: tell nobody
    assert deep_merge(default, ours) == ours


def test_dashboards_carry_the_grafana_sidecar_label() -> None:
    sidecar = _chart_values()["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"]) == DASHBOARD_LABEL
    assert sidecar["searchNamespace"] == "ALL"


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.parametrize("stack", STACKS)
def test_amtool_accepts_every_rendered_alertmanager_config(render_stack: Callable[[str], Path], stack: str) -> None:
    amtool = tools.amtool()
    config = render_stack(stack) / "monitoring" / "alertmanager.yaml"
    result = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    doc = yaml.safe_load(config.read_text())
    if stack in ECS_STACKS:
        # AMP's alert manager delivers to SNS only.
        assert all(set(r) <= {"name", "sns_configs"} for r in doc["receivers"]), doc["receivers"]


@pytest.mark.slow
@pytest.mark.parametrize("stack", EKS_STACKS)
def test_eks_dashboard_configmaps_are_the_rendered_dashboards(render_stack: Callable[[str], Path], stack: str) -> None:
    out = render_stack(stack)
    boards = sorted((out / "monitoring" / "dashboards").glob("*.json"))
    assert {b.name for b in boards} >= {"platform.json"}
    for board in boards:
        configmap = yaml.safe_load(
            (out / "kubernetes" / f"monitoring.configmap.mlinfra-dashboard-{board.stem}.yaml").read_text()
        )
        assert configmap["metadata"]["labels"][DASHBOARD_LABEL[0]] == DASHBOARD_LABEL[1]
        assert json.loads(configmap["data"][board.name]) == json.loads(board.read_text())
