"""The alert rules of one service, defined once and rendered for every platform.

Expressions use the metric names of `mlinfra.serving.metric_names`, so a renamed runtime
metric cannot silently orphan an alert.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlinfra.monitoring.slo import PAGE, TICKET, burn_expr, error_budget
from mlinfra.serving import metric_names as m
from mlinfra.spec.service import Objectives


@dataclass(frozen=True)
class AlertRule:
    alert: str
    expr: str
    for_: str
    severity: str
    summary: str
    objective: str | None = None
    """`availability` or `latency`: which objective the alert is about, so Alertmanager can let
    a page on it silence the matching warnings (see `mlinfra.monitoring.routing`)."""

    def as_prometheus(self, service: str) -> dict[str, object]:
        labels = {"severity": self.severity, "service": service}
        if self.objective is not None:
            labels["objective"] = self.objective
        rule: dict[str, object] = {"alert": self.alert, "expr": self.expr}
        if self.for_ != "0m":
            rule["for"] = self.for_
        return {**rule, "labels": labels, "annotations": {"summary": self.summary}}


# Thresholds: an error budget of 5% over 5 minutes pages; a p99 over 500 ms for 10 minutes
# warns. They are deliberately few and conservative, so they can be trusted to wake someone.
ERROR_RATE_THRESHOLD = 0.05
P99_LATENCY_SECONDS = 0.5
RESTARTS_IN_15M = 3
GPU_SATURATED_PERCENT = 90


def service_alerts(
    service: str, namespace: str, gpu: bool, *, kubernetes: bool = True, slo: Objectives | None = None
) -> list[AlertRule]:
    """The runtime's own alerts and SLO burn-rate alerts everywhere; restart and GPU alerts only
    where their exporters run (kube-state-metrics and DCGM exist on EKS only), so no alert is
    silently dead."""
    sel = f'{m.LABEL_MODEL}="{service}"'
    rules = [
        AlertRule(
            "MlinfraHighErrorRate",
            f'sum(rate({m.REQUESTS_TOTAL}{{{sel},{m.LABEL_STATUS}=~"5.."}}[5m]))'
            f" / clamp_min(sum(rate({m.REQUESTS_TOTAL}{{{sel}}}[5m])), 1e-9)"
            f" > {ERROR_RATE_THRESHOLD}",
            "5m",
            "critical",
            f"{service}: more than 5% of requests fail with 5xx",
            "availability",
        ),
        AlertRule(
            "MlinfraHighLatencyP99",
            f"histogram_quantile(0.99, sum by (le) (rate({m.REQUEST_DURATION_SECONDS}_bucket"
            f"{{{sel}}}[5m]))) > {P99_LATENCY_SECONDS}",
            "10m",
            "warning",
            f"{service}: p99 latency above 500 ms",
            "latency",
        ),
        AlertRule(
            "MlinfraUnavailable",
            f"(sum({m.MODEL_READY}{{{sel}}}) or vector(0)) < 1",
            "5m",
            "critical",
            f"{service}: no replica has the model loaded and ready",
            "availability",
        ),
        *slo_alerts(service, slo or Objectives()),
    ]
    if kubernetes:
        rules.append(
            AlertRule(
                "MlinfraPodRestarts",
                f'sum(increase(kube_pod_container_status_restarts_total{{namespace="{namespace}"}}[15m]))'
                f" > {RESTARTS_IN_15M}",
                "0m",
                "warning",
                f"{service}: containers restarted more than 3 times in 15 minutes",
            )
        )
    if gpu and kubernetes:
        rules.append(
            AlertRule(
                "MlinfraGpuSaturated",
                f'avg({m.DCGM_GPU_UTIL}{{{m.LABEL_GPU_NAMESPACE}="{namespace}"}}) > {GPU_SATURATED_PERCENT}',
                "15m",
                "warning",
                f"{service}: GPU utilisation above 90% for 15 minutes; add replicas",
            )
        )
    return rules


def slo_alerts(service: str, slo: Objectives) -> list[AlertRule]:
    """A page and a ticket per objective (see `mlinfra.monitoring.slo` for the windows)."""
    errors, slow = error_budget(slo.availability_percent), error_budget(slo.latency_percent)
    avail = f"{slo.availability_percent:g}% of requests without a 5xx"
    fast = f"{slo.latency_percent:g}% of requests within {slo.latency_seconds:g} s"
    return [
        AlertRule(
            "MlinfraAvailabilityBudgetBurn",
            burn_expr(service, PAGE, errors),
            "0m",
            "critical",
            f"{service}: error budget of '{avail}' burning 6-14x too fast",
            "availability",
        ),
        AlertRule(
            "MlinfraAvailabilityBudgetDrain",
            burn_expr(service, TICKET, errors),
            "0m",
            "warning",
            f"{service}: error budget of '{avail}' burning 1-3x too fast",
            "availability",
        ),
        AlertRule(
            "MlinfraLatencyBudgetBurn",
            burn_expr(service, PAGE, slow, slo.latency_seconds),
            "0m",
            "critical",
            f"{service}: latency budget of '{fast}' burning 6-14x too fast",
            "latency",
        ),
        AlertRule(
            "MlinfraLatencyBudgetDrain",
            burn_expr(service, TICKET, slow, slo.latency_seconds),
            "0m",
            "warning",
            f"{service}: latency budget of '{fast}' burning 1-3x too fast",
            "latency",
        ),
    ]


def rule_groups(
    service: str, namespace: str, gpu: bool, *, kubernetes: bool = True, slo: Objectives | None = None
) -> list[dict[str, object]]:
    """Prometheus rule-file `groups:` for one service (also the PrometheusRule spec)."""
    alerts = service_alerts(service, namespace, gpu, kubernetes=kubernetes, slo=slo)
    return [{"name": f"mlinfra-{service}", "rules": [r.as_prometheus(service) for r in alerts]}]
