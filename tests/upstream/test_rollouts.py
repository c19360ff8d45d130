"""Canary releases on EKS against Argo Rollouts at the pinned chart (2.41.0, controller v1.9.0):
the controller's CRDs and RBAC, the ALB wiring its reconciler expects, the analysis's metrics
against what the runtime exports, and its Prometheus address against kube-prometheus-stack."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from mlinfra.components.addons import CHARTS, PROMETHEUS_ADDRESS, argo_rollouts_values
from mlinfra.components.k8s_rollout import POD_TEMPLATE_HASH, action_annotation, prometheus_label
from mlinfra.engine.recorder import RecordedResource
from mlinfra.engine.runner import OfflineRun
from mlinfra.serving import metric_names
from mlinfra.spec.service import ServiceSpec
from tests.upstream.conftest import chart_fixture, load_json, load_yaml, origin
from tests.upstream.test_custom_resources import problems

ARGO = chart_fixture("argo-rollouts")
HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")
PROMQL_WORDS = {"sum", "rate", "clamp_min", "vector", "histogram_quantile", "by", "le", "or"}


def of_kind(run: OfflineRun, kind: str) -> list[RecordedResource]:
    return [r for r in run.resources if r.inputs.get("kind") == kind]


def named(run: OfflineRun, type_token: str, name: str) -> dict[str, Any]:
    [found] = [
        r.inputs for r in run.resources if r.type == type_token and (r.inputs.get("metadata") or {}).get("name") == name
    ]
    return found


def constant(name: str) -> str:
    return str(load_json(ARGO / "controller-constants.json")[name]["value"])


def test_crds_are_the_controller_version_the_chart_runs() -> None:
    app = load_yaml(ARGO / "Chart.yaml")["appVersion"]
    assert origin(ARGO)["pin"] == CHARTS["argo-rollouts"].version
    assert f"tag {app} " in (ARGO / "ORIGIN.md").read_text(), "CRD fixtures are not from the chart's appVersion"


def queries(run: OfflineRun) -> list[str]:
    return [
        metric["provider"]["prometheus"]["query"]
        for template in of_kind(run, "AnalysisTemplate")
        for metric in template.inputs["spec"]["metrics"]
    ]


def metric_names_in(query: str) -> set[str]:
    """Every series name a PromQL query selects (`name{...}`), histogram suffixes removed."""
    names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", query)) - PROMQL_WORDS
    return {next((n.removesuffix(s) for s in HISTOGRAM_SERIES if n.endswith(s)), n) for n in names}


def unknown_metrics(query: str) -> set[str]:
    return metric_names_in(query) - set(metric_names.ALL_METRICS)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_analysis_queries_only_metrics_the_runtime_exports(eks_runs: dict[str, OfflineRun], stack: str) -> None:
    found = queries(eks_runs[stack])
    assert found
    for query in found:
        assert metric_names_in(query), query
        assert not unknown_metrics(query), query
        # Canary against stable, told apart by the label Argo puts on each version's pods.
        hash_label = prometheus_label(constant("DefaultRolloutUniqueLabelKey"))
        assert f'{hash_label}="{{{{args.canary-hash}}}}"' in query
        assert f'{hash_label}="{{{{args.stable-hash}}}}"' in query


def test_an_unknown_metric_is_caught() -> None:
    assert unknown_metrics('sum(rate(mlinfra_request_total{model="x"}[2m]))') == {"mlinfra_request_total"}
    assert not unknown_metrics('sum(rate(mlinfra_request_duration_seconds_bucket{model="x"}[2m]))')


def test_analysis_reads_the_prometheus_kube_prometheus_stack_serves() -> None:
    values = load_yaml(chart_fixture("kube-prometheus-stack") / "values.yaml")
    chart = load_yaml(chart_fixture("kube-prometheus-stack") / "Chart.yaml")["name"]
    # The release is named after the chart (addons), so the chart's fullname is the release name.
    service = f"{chart}-prometheus"
    port = values["prometheus"]["service"]["port"]
    assert len(chart) <= 26
    namespace = CHARTS["kube-prometheus-stack"].namespace
    assert f"http://{service}.{namespace}.svc.cluster.local:{port}" == PROMETHEUS_ADDRESS


def test_the_scraped_series_carry_the_pod_template_hash(eks_runs: dict[str, OfflineRun]) -> None:
    assert constant("DefaultRolloutUniqueLabelKey") == POD_TEMPLATE_HASH
    monitors = [m for m in of_kind(eks_runs["staging"], "ServiceMonitor") if m.name.endswith("-servicemonitor")]
    assert monitors
    for monitor in monitors:
        assert monitor.inputs["spec"]["podTargetLabels"] == [POD_TEMPLATE_HASH]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_rollout_wiring_is_what_the_alb_reconciler_expects(eks_runs: dict[str, OfflineRun], stack: str) -> None:
    run = eks_runs[stack]
    rollouts = of_kind(run, "Rollout")
    assert rollouts
    for rollout in rollouts:
        meta, spec = rollout.inputs["metadata"], rollout.inputs["spec"]
        canary = spec["strategy"]["canary"]
        ingress = named(run, "kubernetes:networking.k8s.io/v1:Ingress", canary["trafficRouting"]["alb"]["ingress"])
        assert ingress["metadata"]["namespace"] == meta["namespace"]
        # HasRuleWithService: the Ingress routes to the stable Service through `use-annotation`.
        [path] = ingress["spec"]["rules"][0]["http"]["paths"]
        assert path["backend"]["service"] == {"name": canary["stableService"], "port": {"name": "use-annotation"}}
        key = constant("ALBIngressAnnotation") + constant("ALBActionPrefix") + canary["stableService"]
        assert key == action_annotation_for(meta["name"])
        action = json.loads(ingress["metadata"]["annotations"][key])
        groups = {g["ServiceName"]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]}
        assert groups == {canary["canaryService"]: 0, canary["stableService"]: 100}
        # The action names the canary Service: it exists before the Ingress that routes to it,
        # and the Rollout comes after both.
        [ingress_res] = [r for r in run.resources if r.inputs is ingress]
        [canary_res] = [
            r
            for r in run.resources
            if r.type == "kubernetes:core/v1:Service" and r.inputs["metadata"]["name"] == canary["canaryService"]
        ]
        assert canary_res.urn in ingress_res.dependencies
        assert ingress_res.urn in rollout.dependencies
        port = str(canary["trafficRouting"]["alb"]["servicePort"])
        for service in (canary["canaryService"], canary["stableService"]):
            rendered = named(run, "kubernetes:core/v1:Service", service)
            assert port in {str(p["port"]) for p in rendered["spec"]["ports"]}
        # The Rollout releases the Deployment's template and owns the count: KEDA scales the
        # Rollout, or the Rollout carries the fixed count; the Deployment carries none.
        deployment = named(run, "kubernetes:apps/v1:Deployment", spec["workloadRef"]["name"])
        assert "replicas" not in deployment["spec"]
        scalers = [r.inputs for r in of_kind(run, "ScaledObject") if r.inputs["metadata"] == meta]
        if scalers:
            assert "replicas" not in spec
            assert scalers[0]["spec"]["scaleTargetRef"]["kind"] == "Rollout"
            assert scalers[0]["spec"]["scaleTargetRef"]["name"] == meta["name"]
        else:
            assert spec["replicas"] >= 1
        [template] = [t for t in of_kind(run, "AnalysisTemplate") if t.inputs["metadata"] == meta]
        assert canary["analysis"]["templates"] == [{"templateName": template.inputs["metadata"]["name"]}]


def action_annotation_for(service: str) -> str:
    return action_annotation(ServiceSpec(name=service, model_uri="s3://bucket-x/m.onnx"))


def test_a_misspelt_rollout_field_is_caught(eks_runs: dict[str, OfflineRun]) -> None:
    [rollout] = of_kind(eks_runs["staging"], "Rollout")[:1]
    bad = copy.deepcopy(rollout.inputs)
    bad["spec"]["strategy"]["canary"]["trafficRouting"]["alb"]["servicePorts"] = 80
    assert any("servicePorts" in p for p in problems(bad))
    bad = copy.deepcopy(rollout.inputs)
    bad["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = "ten"
    assert any("setWeight" in p for p in problems(bad))


def merged(defaults: Any, ours: Any) -> Any:
    if isinstance(defaults, dict) and isinstance(ours, dict):
        return {k: merged(defaults.get(k), ours.get(k)) if k in ours else defaults[k] for k in {*defaults, *ours}}
    return ours


def holds(condition: str | None, values: dict[str, Any]) -> bool:
    if condition is None:
        return True
    for term in condition.split(" && "):
        node: Any = values
        for key in term.removeprefix(".Values.").split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if not node:
            return False
    return True


def granted_rules(values: dict[str, Any]) -> list[dict[str, Any]]:
    rules = load_json(ARGO / "controller-rules.json")["rules"]
    return [r["rule"] for r in rules if holds(r["condition"], values)]


def test_controller_may_patch_the_ingress_and_read_alb_bindings() -> None:
    values = merged(load_yaml(ARGO / "values.yaml"), argo_rollouts_values(production=True))
    rules = granted_rules(values)

    def allows(group: str, resource: str, verb: str) -> bool:
        return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)

    for verb in ("get", "watch", "update", "patch"):
        assert allows("networking.k8s.io", "ingresses", verb)
    assert allows("", "services", "patch")  # the stable/canary selectors
    assert allows("elbv2.k8s.aws", "targetgroupbindings", "get")
    assert allows("argoproj.io", "analysistemplates", "get")
    # Routers mlinfra does not use get no rules.
    assert not allows("networking.istio.io", "virtualservices", "patch")
    assert not allows("gateway.networking.k8s.io", "httproutes", "update")
