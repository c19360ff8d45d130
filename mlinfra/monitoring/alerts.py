"""The alert rules of one service, defined once and rendered for every platform.

Expressions use the metric names of `mlinfra.serving.metric_names`, so a renamed runtime
metric cannot silently orphan an alert.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlinfra.serving import metric_names as m


@dataclass(frozen=True)
class AlertRule:
    alert: str
    expr: str
    for_: str
    severity: str
    summary: str

    def as_prometheus(self, service: str) -> dict[str, object]:
        return {
            "alert": self.alert,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity, "service": service},
            "annotations": {"summary": self.summary},
        }


# Thresholds: an error budget of 5% over 5 minutes pages; a p99 over 500 ms for 10 minutes
# warns. They are deliberately few and conservative, so they can be trusted to wake someone.
ERROR_RATE_THRESHOLD = 0.05
P99_LATENCY_SECONDS = 0.5
RESTARTS_IN_15M = 3
GPU_SATURATED_PERCENT = 90


def service_alerts(service: str, namespace: str, gpu: bool, *, kubernetes: bool = True) -> list[AlertRule]:
    """The runtime's own alerts everywhere; restart and GPU alerts only where their exporters
    run (kube-state-metrics and DCGM exist on EKS only), so no alert is silently dead."""
    sel = f'{m.LABEL_MODEL}="{service}"'
    rules = [
        AlertRule(
            "MlinfraHighErrorRate",
            f'sum(rate({m.REQUESTS_TOTAL}{{{sel},{m.LABEL_STATUS}=~"5.."}}[5m]))'
            f" / clamp_min(sum(rate({m.REQUESTS_TOTAL}{{{sel}}}[5m])), 1e-9)"
            f" > {ERROR_RATE_THRESHOLD}",
            "5m", "critical", f"{service}: more than 5% of requests fail with 5xx",
        ),
        AlertRule(
            "MlinfraHighLatencyP99",
            f"histogram_quantile(0.99, sum by (le) (rate({m.REQUEST_DURATION_SECONDS}_bucket"
            f"{{{sel}}}[5m]))) > {P99_LATENCY_SECONDS}",
            "10m", "warning", f"{service}: p99 latency above 500 ms",
        ),
        AlertRule(
            "MlinfraUnavailable",
            f"(sum({m.MODEL_READY}{{{sel}}}) or vector(0)) < 1",
            "5m", "critical", f"{service}: no replica has the model loaded and ready",
        ),
    ]
    if kubernetes:
        rules.append(AlertRule(
            "MlinfraPodRestarts",
            f'sum(increase(kube_pod_container_status_restarts_total{{namespace="{namespace}"}}[15m]))'
            f" > {RESTARTS_IN_15M}",
            "0m", "warning", f"{service}: containers restarted more than 3 times in 15 minutes",
        ))
    if gpu and kubernetes:
        rules.append(AlertRule(
            "MlinfraGpuSaturated",
            f'avg(DCGM_FI_DEV_GPU_UTIL{{namespace="{namespace}"}}) > {GPU_SATURATED_PERCENT}',
            "15m", "warning", f"{service}: GPU utilisation above 90% for 15 minutes; add replicas",
        ))
    return rules


def rule_groups(service: str, namespace: str, gpu: bool, *, kubernetes: bool = True) -> list[dict[str, object]]:
    """Prometheus rule-file `groups:` for one service (also the PrometheusRule spec)."""
    return [{
        "name": f"mlinfra-{service}",
        "rules": [r.as_prometheus(service) for r in service_alerts(service, namespace, gpu, kubernetes=kubernetes)],
    }]
