"""Every pinned chart version exists upstream, and every values key mlinfra sets exists in that
version's values.yaml (Helm silently ignores a key the chart does not read)."""

from __future__ import annotations

from typing import Any

import pytest

from mlinfra.components.addons import CHARTS
from mlinfra.components.policies import LBC_APP_VERSION
from mlinfra.engine.runner import OfflineRun
from tests.upstream.conftest import chart_fixture, load_yaml, origin

# Subcharts whose values a parent chart passes through under the subchart's name.
SUBCHARTS = {"kube-prometheus-stack": ("grafana",)}


@pytest.mark.parametrize("chart", sorted(CHARTS))
def test_pinned_chart_version_is_the_fixture_version_and_published(chart: str) -> None:
    pin = CHARTS[chart]
    fixture = chart_fixture(chart)
    recorded = origin(fixture)["pin"]
    assert recorded == pin.version, (
        f"{chart} is pinned to {pin.version} but its upstream fixture is for {recorded}: rerun "
        "tests/fixtures/upstream/refresh.py for the new version and review the diff"
    )
    entry = load_yaml(fixture / "index-entry.yaml")
    assert (entry["name"], entry["version"]) == (pin.chart, pin.version)
    meta = load_yaml(fixture / "Chart.yaml")
    assert (meta["name"], str(meta["version"])) == (pin.chart, pin.version)


def test_subchart_fixtures_match_the_parent_chart_dependency() -> None:
    for parent, subs in SUBCHARTS.items():
        deps = {d["name"]: d["version"] for d in load_yaml(chart_fixture(parent) / "Chart.yaml")["dependencies"]}
        for sub in subs:
            assert origin(chart_fixture(sub))["pin"] == deps[sub], f"{parent} depends on {sub} {deps[sub]}"


def test_load_balancer_controller_policy_is_for_the_chart_app_version() -> None:
    meta = load_yaml(chart_fixture("aws-load-balancer-controller") / "Chart.yaml")
    assert meta["appVersion"] == LBC_APP_VERSION


def test_operator_crds_release_is_versioned_with_kube_prometheus_stack() -> None:
    stack = load_yaml(chart_fixture("kube-prometheus-stack") / "Chart.yaml")["appVersion"]
    crds = load_yaml(chart_fixture("prometheus-operator-crds") / "Chart.yaml")["appVersion"]
    assert crds == stack, f"prometheus-operator-crds runs operator {crds}, kube-prometheus-stack {stack}"


def leaf_paths(values: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(values, dict) and values:
        return [p for key, sub in values.items() for p in leaf_paths(sub, (*prefix, str(key)))]
    return [prefix]


def missing_key(defaults: Any, path: tuple[str, ...]) -> str | None:
    """Where `path` leaves the chart's values, or None if the chart reads it.

    An empty map in the defaults (`nodeSelector: {}`, `annotations: {}`) takes any keys."""
    node = defaults
    for depth, key in enumerate(path):
        if isinstance(node, dict) and not node:
            return None
        if not isinstance(node, dict) or key not in node:
            return ".".join(path[: depth + 1])
        node = node[key]
    return None


def unknown_values(chart: str, values: dict[str, Any]) -> list[str]:
    defaults = load_yaml(chart_fixture(chart) / "values.yaml")
    problems = []
    for path in leaf_paths(values):
        where = missing_key(defaults, path)
        if where and path[0] in SUBCHARTS.get(chart, ()):
            where = missing_key(load_yaml(chart_fixture(path[0]) / "values.yaml"), path[1:])
        if where:
            problems.append(f"{chart}: {where} is not in the chart's values.yaml at {CHARTS[chart].version}")
    return problems


def test_every_values_key_mlinfra_sets_exists_in_the_pinned_chart(eks_runs: dict[str, OfflineRun]) -> None:
    problems: list[str] = []
    seen = set()
    for run in eks_runs.values():
        for release in (r for r in run.resources if r.type == "kubernetes:helm.sh/v3:Release"):
            chart = release.inputs["chart"].rsplit("/", 1)[-1]  # an OCI chart is named by its URL
            seen.add(chart)
            problems += unknown_values(chart, release.inputs.get("values") or {})
    assert seen == set(CHARTS)
    assert not problems, "\n".join(problems)


def test_the_values_check_catches_a_misspelt_key() -> None:
    assert unknown_values("dcgm-exporter", {"serviceMonitor": {"honourLabels": True}}) == [
        "dcgm-exporter: serviceMonitor.honourLabels is not in the chart's values.yaml at 4.1.1"
    ]
    assert unknown_values("kube-prometheus-stack", {"grafana": {"admin": {"existingSecrets": "x"}}})
    assert not unknown_values("kube-prometheus-stack", {"grafana": {"admin": {"existingSecret": "x"}}})


def test_kube_prometheus_stack_defaults_that_are_wrong_on_eks_are_overridden(eks_runs: dict[str, OfflineRun]) -> None:
    """The chart scrapes targets EKS does not expose and ships a fixed Grafana password."""
    defaults = load_yaml(chart_fixture("kube-prometheus-stack") / "values.yaml")
    assert defaults["grafana"]["adminPassword"] == "prom-operator"  # the upstream default
    for run in eks_runs.values():
        [kps] = [
            r
            for r in run.resources
            if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "kube-prometheus-stack"
        ]
        values = kps.inputs["values"]
        for target in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
            assert defaults[target]["enabled"] is True
            assert values[target]["enabled"] is False, target
        assert values["crds"]["enabled"] is False
        assert "adminPassword" not in values["grafana"]
        assert values["grafana"]["admin"]["existingSecret"] == "grafana-admin"
        spec = values["prometheus"]["prometheusSpec"]
        assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "gp3"
