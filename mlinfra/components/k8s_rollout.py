"""Progressive delivery on EKS with Argo Rollouts: a `Rollout` over the service's Deployment,
canary traffic split by the ALB, and an `AnalysisTemplate` on the runtime's own metrics.

The Rollout references the Deployment (`workloadRef`) instead of carrying its own pod
template: the Deployment keeps its URN and stays the one place the pod template is written,
and Argo scales it down only once the Rollout is healthy (`scaleDown: onsuccess`) and moves the
existing Service to the Rollout's pods only once they are all available, so switching a running
service to canary delivery never drops its replicas. Argo then owns the replica sets, the Services'
selectors and the Ingress's forward weights.

The analysis compares the canary's pods with the stable ones (the Prometheus targets carry
the pod-template hash Argo gives each version): a measurement fails when the canary's 5xx
ratio or p99 latency exceeds both the spec's ceiling and the stable version's, so a release is
rolled back for what it changed, not for an incident the stable version has as well.
"""

from __future__ import annotations

import json
import re

from mlinfra.serving import metric_names as m
from mlinfra.spec.rollout import Rollout
from mlinfra.spec.service import ServiceSpec

ROLLOUT_API_VERSION = "argoproj.io/v1alpha1"
POD_TEMPLATE_HASH = "rollouts-pod-template-hash"
SERVICE_PORT = 80
ANALYSIS_INTERVAL = "1m"
QUERY_WINDOW = "2m"
# One bad minute is noise (a cold cache, one slow batch); the second aborts the release.
FAILURE_LIMIT = 1
# Prometheus unreachable for this many measurements in a row also aborts: never promote blind.
CONSECUTIVE_ERROR_LIMIT = 4
METRICS_SERVICE_LABEL = "mlinfra.io/metrics"


def progressive(spec: ServiceSpec) -> bool:
    return spec.delivery.strategy == "canary"


def prometheus_label(label: str) -> str:
    """A pod label as the Prometheus target label prometheus-operator's podTargetLabels makes."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", label)


def canary_service(spec: ServiceSpec) -> str:
    return f"{spec.name}-canary"


def metrics_service(spec: ServiceSpec) -> str:
    """Selects every pod of the service, whatever version: what Prometheus scrapes (Argo
    narrows the stable and canary Services' selectors to one version each)."""
    return f"{spec.name}-metrics"


def rollout_workload(spec: ServiceSpec, deployment: tuple[str, str]) -> tuple[str, str]:
    """(apiVersion, kind) the autoscaler scales: the Rollout once Argo owns the replica sets,
    else the Deployment."""
    return (ROLLOUT_API_VERSION, "Rollout") if progressive(spec) else deployment


def forward_action(spec: ServiceSpec, canary_weight: int = 0) -> str:
    """The ALB forward action Argo writes on the Ingress (`alb.ingress.kubernetes.io/actions.<stable>`),
    in the form its ALB reconciler marshals, so the value mlinfra seeds at creation is the one
    Argo keeps while no release runs."""
    action = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"ServiceName": canary_service(spec), "ServicePort": str(SERVICE_PORT), "Weight": canary_weight},
                {"ServiceName": spec.name, "ServicePort": str(SERVICE_PORT), "Weight": 100 - canary_weight},
            ]
        },
    }
    return json.dumps(action, separators=(",", ":"))


def action_annotation(spec: ServiceSpec) -> str:
    return f"alb.ingress.kubernetes.io/actions.{spec.name}"


def canary_steps(rollout: Rollout) -> list[dict[str, object]]:
    steps: list[dict[str, object]] = []
    for weight in rollout.canary_steps:
        steps.append({"setWeight": weight})
        if rollout.bake_minutes:
            steps.append({"pause": {"duration": f"{rollout.bake_minutes}m"}})
    return steps


def rollout_spec(spec: ServiceSpec, pod_labels: dict[str, str], ingress: str) -> dict[str, object]:
    """The Rollout's spec. It owns the replica count (the Deployment is scaled to zero): a fixed
    `replicas`, or none when KEDA's HPA scales it through its scale subresource."""
    return {
        **({"replicas": spec.replicas} if spec.autoscaling is None else {}),
        "selector": {"matchLabels": pod_labels},
        "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name, "scaleDown": "onsuccess"},
        "revisionHistoryLimit": 5,
        "progressDeadlineSeconds": spec.expected_load_seconds + 600,
        # A canary whose pods never become ready is aborted (traffic back to stable), not left.
        "progressDeadlineAbort": True,
        "strategy": {
            "canary": {
                "stableService": spec.name,
                "canaryService": canary_service(spec),
                "trafficRouting": {"alb": {"ingress": ingress, "servicePort": SERVICE_PORT}},
                "analysis": {
                    "templates": [{"templateName": spec.name}],
                    "args": [
                        {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
                        {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
                    ],
                },
                "steps": canary_steps(spec.delivery),
            }
        },
    }


def _selector(spec: ServiceSpec, version: str, extra: str = "") -> str:
    hash_label = prometheus_label(POD_TEMPLATE_HASH)
    return f'{m.LABEL_MODEL}="{spec.name}",{hash_label}="{{{{args.{version}-hash}}}}"{extra}'


def error_ratio_query(spec: ServiceSpec, version: str) -> str:
    server_errors = f',{m.LABEL_STATUS}=~"5.."'
    errors = f"sum(rate({m.REQUESTS_TOTAL}{{{_selector(spec, version, server_errors)}}}[{QUERY_WINDOW}]))"
    total = f"sum(rate({m.REQUESTS_TOTAL}{{{_selector(spec, version)}}}[{QUERY_WINDOW}]))"
    # No requests yet: a ratio of 0, not an empty result Argo would count as an error.
    return f"(({errors} / clamp_min({total}, 1e-9)) or vector(0))"


def p99_query(spec: ServiceSpec, version: str) -> str:
    buckets = f"sum by (le) (rate({m.REQUEST_DURATION_SECONDS}_bucket{{{_selector(spec, version)}}}[{QUERY_WINDOW}]))"
    # `>= 0` drops the NaN of a histogram without requests.
    return f"((histogram_quantile(0.99, {buckets}) >= 0) or vector(0))"


def regression_query(canary: str, stable: str, ceiling: float) -> str:
    """Above 0 when the canary exceeds both the ceiling and the stable version."""
    return f"{canary} - clamp_min({stable}, {ceiling:g})"


def analysis_template_spec(spec: ServiceSpec, prometheus_url: str) -> dict[str, object]:
    rollout = spec.delivery

    def metric(name: str, query: str) -> dict[str, object]:
        return {
            "name": name,
            "interval": ANALYSIS_INTERVAL,
            "failureLimit": FAILURE_LIMIT,
            "consecutiveErrorLimit": CONSECUTIVE_ERROR_LIMIT,
            "successCondition": "result[0] <= 0",
            "provider": {"prometheus": {"address": prometheus_url, "query": query}},
        }

    return {
        "args": [{"name": "canary-hash"}, {"name": "stable-hash"}],
        "metrics": [
            metric(
                "error-ratio",
                regression_query(
                    error_ratio_query(spec, "canary"), error_ratio_query(spec, "stable"), rollout.max_error_ratio
                ),
            ),
            metric(
                "p99-latency",
                regression_query(p99_query(spec, "canary"), p99_query(spec, "stable"), rollout.max_p99_seconds),
            ),
        ],
    }
