"""Every custom resource mlinfra emits validates against its CRD's openAPIV3Schema at the pinned
prometheus-operator and Argo Rollouts versions. The API server prunes fields a structural schema does not declare,
so an unknown field is an error here, not a silent no-op there."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from mlinfra.components.addons import CHARTS
from mlinfra.engine.runner import OfflineRun
from tests.upstream.conftest import chart_fixture, load_yaml, origin

# kind -> (chart fixture, CRD file, served version)
CRD_FILES = {
    "ServiceMonitor": ("kube-prometheus-stack", "crd-servicemonitors.yaml", "v1"),
    "PrometheusRule": ("kube-prometheus-stack", "crd-prometheusrules.yaml", "v1"),
    "Rollout": ("argo-rollouts", "crd-rollouts.yaml", "v1alpha1"),
    "AnalysisTemplate": ("argo-rollouts", "crd-analysistemplates.yaml", "v1alpha1"),
}
CUSTOM_API_GROUPS = ("kubernetes:monitoring.coreos.com/", "kubernetes:argoproj.io/")


def closed(schema: Any) -> Any:
    """The schema with `additionalProperties: false` wherever Kubernetes would prune."""
    if isinstance(schema, dict):
        out = {k: closed(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


def crd_schema(kind: str) -> dict[str, Any]:
    chart, path, served = CRD_FILES[kind]
    crd = load_yaml(chart_fixture(chart) / path)
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == served]
    return dict(closed(version["schema"]["openAPIV3Schema"]))


def problems(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(crd_schema(doc["kind"]))
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '.'}: {e.message}" for e in validator.iter_errors(doc))


def test_crd_fixtures_are_the_operator_version_the_crds_release_installs() -> None:
    stack = load_yaml(chart_fixture("kube-prometheus-stack") / "Chart.yaml")
    crds = load_yaml(chart_fixture("prometheus-operator-crds") / "Chart.yaml")
    assert origin(chart_fixture("prometheus-operator-crds"))["pin"] == CHARTS["prometheus-operator-crds"].version
    assert stack["appVersion"] == crds["appVersion"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_rendered_custom_resource_validates(eks_runs: dict[str, OfflineRun], stack: str) -> None:
    docs = [r for r in eks_runs[stack].resources if r.type.startswith(CUSTOM_API_GROUPS)]
    assert {r.inputs["kind"] for r in docs} == set(CRD_FILES)
    found = [f"{r.name}: {p}" for r in docs for p in problems(r.inputs)]
    assert not found, "\n".join(found)


def test_a_misspelt_or_mistyped_field_is_caught(eks_runs: dict[str, OfflineRun]) -> None:
    [monitor] = [r.inputs for r in eks_runs["staging"].resources if r.inputs.get("kind") == "ServiceMonitor"][:1]
    bad = copy.deepcopy(monitor)
    bad["spec"]["endpoints"][0]["intervall"] = "15s"
    assert any("intervall" in p for p in problems(bad))
    bad = copy.deepcopy(monitor)
    bad["spec"]["endpoints"][0]["scheme"] = "ftp"
    assert any("scheme" in p for p in problems(bad))
