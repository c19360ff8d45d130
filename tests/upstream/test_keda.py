"""KEDA at the pinned chart version: every ScaledObject mlinfra renders validates against the
release's CRD schema, sets only trigger metadata its scalers read, and queries the Prometheus
Service kube-prometheus-stack really creates."""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema
import pytest

from mlinfra.components.addons import CHARTS, PROMETHEUS_ADDRESS
from mlinfra.engine.runner import OfflineRun
from tests.upstream.conftest import chart_fixture, load_json, load_yaml, origin
from tests.upstream.test_custom_resources import closed

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"


def scaled_object_schema() -> dict[str, Any]:
    crd = load_yaml(chart_fixture("keda") / "crd-scaledobjects.yaml")
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return dict(closed(version["schema"]["openAPIV3Schema"]))


def schema_problems(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(scaled_object_schema())
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '.'}: {e.message}" for e in validator.iter_errors(doc))


def scaled_objects(run: OfflineRun) -> list[dict[str, Any]]:
    return [r.inputs for r in run.resources if r.type == SCALED_OBJECT]


def test_crd_fixture_is_the_keda_release_the_pinned_chart_runs() -> None:
    meta = load_yaml(chart_fixture("keda") / "Chart.yaml")
    assert (meta["version"], origin(chart_fixture("keda"))["pin"]) == (CHARTS["keda"].version,) * 2
    notes = (chart_fixture("keda") / "ORIGIN.md").read_text()
    assert f"kedacore/keda at v{meta['appVersion']} " in notes, "CRD and scaler fixtures are for another KEDA"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_scaled_object_validates_against_the_crd(eks_runs: dict[str, OfflineRun], stack: str) -> None:
    docs = scaled_objects(eks_runs[stack])
    assert docs, "an autoscaled example service must render a ScaledObject"
    found = [f"{d['metadata']['name']}: {p}" for d in docs for p in schema_problems(d)]
    assert not found, "\n".join(found)


def test_the_schema_check_catches_a_number_in_metadata_and_a_misspelt_field(
    eks_runs: dict[str, OfflineRun],
) -> None:
    doc = scaled_objects(eks_runs["staging"])[0]
    bad = copy.deepcopy(doc)
    bad["spec"]["triggers"][0]["metadata"]["threshold"] = 32  # KEDA's metadata is string-valued
    assert any("triggers.0.metadata.threshold" in p for p in schema_problems(bad))
    bad = copy.deepcopy(doc)
    bad["spec"]["minReplicas"] = 1  # the HPA's name, not KEDA's
    assert any("minReplicas" in p for p in schema_problems(bad))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_trigger_metadata_is_what_the_pinned_scalers_read(eks_runs: dict[str, OfflineRun], stack: str) -> None:
    scalers = load_json(chart_fixture("keda") / "scaler-metadata.json")
    for doc in scaled_objects(eks_runs[stack]):
        for trigger in doc["spec"]["triggers"]:
            known = scalers[trigger["type"]]
            keys = set(trigger["metadata"])
            assert keys <= set(known["keys"]), (trigger["type"], keys - set(known["keys"]))
            assert set(known["required"]) <= keys, (trigger["type"], set(known["required"]) - keys)


def fullname(release: str, chart: str, helper: str) -> str:
    """kube-prometheus-stack's `fullname` helper for a release without name overrides, after
    checking the helper still reads as the rule implemented here."""
    assert "if contains $name .Release.Name" in helper, helper
    assert ".Release.Name | trunc 26" in helper, helper
    return (release if chart in release else f"{release}-{chart}")[:26].rstrip("-")


def test_prometheus_address_is_the_service_the_pinned_chart_creates(eks_runs: dict[str, OfflineRun]) -> None:
    naming = load_json(chart_fixture("kube-prometheus-stack") / "prometheus-service.json")
    assert naming["service_name"] == '{{ template "kube-prometheus-stack.fullname" . }}-prometheus'
    assert naming["service_port"] == "{{ .Values.prometheus.service.port }}"
    defaults = load_yaml(chart_fixture("kube-prometheus-stack") / "values.yaml")
    [release] = [
        r
        for r in eks_runs["staging"].resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "kube-prometheus-stack"
    ]
    values = release.inputs["values"]
    assert not {"fullnameOverride", "nameOverride"} & set(values)
    port = values.get("prometheus", {}).get("service", {}).get("port", defaults["prometheus"]["service"]["port"])
    name = fullname(release.inputs["name"], "kube-prometheus-stack", naming["fullname_define"]) + "-prometheus"
    expected = f"http://{name}.{release.inputs['namespace']}.svc.cluster.local:{port}"
    assert expected == PROMETHEUS_ADDRESS
    for doc in scaled_objects(eks_runs["staging"]):
        addresses = {t["metadata"].get("serverAddress") for t in doc["spec"]["triggers"] if t["type"] == "prometheus"}
        assert addresses == {expected}


def test_the_fullname_rule_truncates_like_the_chart() -> None:
    helper = load_json(chart_fixture("kube-prometheus-stack") / "prometheus-service.json")["fullname_define"]
    assert fullname("monitoring", "kube-prometheus-stack", helper) == "monitoring-kube-prometheus"
    assert re.fullmatch(r"[a-z0-9-]{1,26}", fullname("kube-prometheus-stack", "kube-prometheus-stack", helper))
