"""Grafana dashboards as code: one per service and one for the platform.

Built with grafana-foundation-sdk (Grafana's own generated builders for the dashboard schema,
pinned in requirements.txt), so the JSON is the schema Grafana imports rather than a
hand-written imitation of it. Every query names metrics from `mlinfra.serving.metric_names`
only, and reads from a `datasource` variable of type prometheus: the chart's Prometheus on
EKS, an AMP datasource in Amazon Managed Grafana (or any Grafana) on ECS.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from mlinfra.serving import metric_names as m
from mlinfra.spec.service import ServiceSpec

# The chart's Grafana sidecar loads every ConfigMap with this label, from every namespace
# (kube-prometheus-stack values: grafana.sidecar.dashboards.label/labelValue/searchNamespace).
DASHBOARD_LABEL = ("grafana_dashboard", "1")
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"


def _panel(title: str, unit: str, queries: list[tuple[str, str]], width: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).height(8).span(width)
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(
            prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + i)).datasource(DATASOURCE)
        )
    return panel


def _base(uid: str, title: str, tags: list[str]) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .tags(["mlinfra", *tags])
        .refresh("30s")
        .time("now-6h", "now")
        .readonly()
        .with_variable(dash.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )


def service_dashboard(spec: ServiceSpec, namespace: str, *, gpu_metrics: bool) -> dict[str, Any]:
    """Traffic, errors, latency percentiles, in-flight, queue, batch size, load time, replicas,
    and GPU utilisation and memory where DCGM runs (`gpu_metrics`)."""
    sel = f'{m.LABEL_MODEL}="{spec.name}"'
    req, hist, batch = m.REQUESTS_TOTAL, m.REQUEST_DURATION_SECONDS, m.BATCH_SIZE
    board = _base(f"mlinfra-{spec.name}", f"mlinfra / {spec.name}", [spec.name])
    panels = [
        _panel(
            "Traffic by status",
            "reqps",
            [(f"sum by ({m.LABEL_STATUS}) (rate({req}{{{sel}}}[{RATE}]))", f"{{{{{m.LABEL_STATUS}}}}}")],
        ),
        _panel(
            "Errors (5xx share)",
            "percentunit",
            [(f'sum(rate({req}{{{sel},{m.LABEL_STATUS}=~"5.."}}[{RATE}])) / sum(rate({req}{{{sel}}}[{RATE}]))', "5xx")],
        ),
        _panel(
            "Latency percentiles",
            "s",
            [
                (f"histogram_quantile({q}, sum by (le) (rate({hist}_bucket{{{sel}}}[{RATE}])))", f"p{p}")
                for q, p in ((0.5, "50"), (0.9, "90"), (0.99, "99"))
            ],
        ),
        _panel(
            "In flight and queued",
            "short",
            [(f"sum({m.INFLIGHT_REQUESTS}{{{sel}}})", "in flight"), (f"sum({m.QUEUE_DEPTH}{{{sel}}})", "queued")],
        ),
        _panel(
            "Batch size",
            "short",
            [
                (f"sum(rate({batch}_sum{{{sel}}}[{RATE}])) / sum(rate({batch}_count{{{sel}}}[{RATE}]))", "mean"),
                (f"histogram_quantile(0.99, sum by (le) (rate({batch}_bucket{{{sel}}}[{RATE}])))", "p99"),
            ],
        ),
        _panel(
            "Model load time and ready replicas",
            "short",
            [
                (f"max({m.MODEL_LOAD_SECONDS}{{{sel}}})", "load seconds (slowest replica)"),
                (f"sum({m.MODEL_READY}{{{sel}}})", "ready replicas"),
            ],
        ),
    ]
    if gpu_metrics:
        gpu = f'{m.LABEL_GPU_NAMESPACE}="{namespace}"'
        panels += [
            _panel(
                "GPU utilisation",
                "percent",
                [(f"avg by (gpu, Hostname) ({m.DCGM_GPU_UTIL}{{{gpu}}})", "{{Hostname}} gpu {{gpu}}")],
            ),
            _panel(
                "GPU memory used",
                "percentunit",
                [
                    (
                        f"sum({m.DCGM_FB_USED}{{{gpu}}})"
                        f" / (sum({m.DCGM_FB_USED}{{{gpu}}}) + sum({m.DCGM_FB_FREE}{{{gpu}}}))",
                        "framebuffer used",
                    )
                ],
            ),
        ]
    for panel in panels:
        board = board.with_panel(panel)
    return _as_dict(board)


def platform_dashboard(stack: str, services: list[ServiceSpec], *, gpu_metrics: bool) -> dict[str, Any]:
    """Every service of the stack side by side."""
    names = "|".join(s.name for s in services)
    sel = f'{m.LABEL_MODEL}=~"{names}"'
    req, hist, by = m.REQUESTS_TOTAL, m.REQUEST_DURATION_SECONDS, m.LABEL_MODEL
    legend = f"{{{{{by}}}}}"
    board = _base(f"mlinfra-platform-{stack}", f"mlinfra / platform ({stack})", ["platform"])
    panels = [
        _panel("Requests per service", "reqps", [(f"sum by ({by}) (rate({req}{{{sel}}}[{RATE}]))", legend)]),
        _panel(
            "5xx share per service",
            "percentunit",
            [
                (
                    f'sum by ({by}) (rate({req}{{{sel},{m.LABEL_STATUS}=~"5.."}}[{RATE}]))'
                    f" / sum by ({by}) (rate({req}{{{sel}}}[{RATE}]))",
                    legend,
                )
            ],
        ),
        _panel(
            "p99 latency per service",
            "s",
            [(f"histogram_quantile(0.99, sum by ({by}, le) (rate({hist}_bucket{{{sel}}}[{RATE}])))", legend)],
        ),
        _panel("Ready replicas per service", "short", [(f"sum by ({by}) ({m.MODEL_READY}{{{sel}}})", legend)]),
        _panel("In flight per service", "short", [(f"sum by ({by}) ({m.INFLIGHT_REQUESTS}{{{sel}}})", legend)]),
        _panel("Queued per service", "short", [(f"sum by ({by}) ({m.QUEUE_DEPTH}{{{sel}}})", legend)]),
    ]
    if gpu_metrics:
        panels.append(
            _panel(
                "GPU utilisation per namespace",
                "percent",
                [(f"avg by ({m.LABEL_GPU_NAMESPACE}) ({m.DCGM_GPU_UTIL})", f"{{{{{m.LABEL_GPU_NAMESPACE}}}}}")],
                width=24,
            )
        )
    for panel in panels:
        board = board.with_panel(panel)
    return _as_dict(board)


def _as_dict(board: dash.Dashboard) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder, sort_keys=True))
    return result


def dashboard_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def queries(doc: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard (for tests and review)."""
    return [t["expr"] for p in doc.get("panels", []) for t in p.get("targets", [])]


def stack_dashboards(stack: str, services: list[ServiceSpec], *, platform: str) -> dict[str, dict[str, Any]]:
    """File name -> dashboard, for every service and the platform. GPU panels only on EKS,
    where dcgm-exporter runs."""
    eks = platform == "eks"
    boards = {
        f"{s.name}.json": service_dashboard(s, f"ml-{s.name}", gpu_metrics=eks and s.gpu_type is not None)
        for s in services
    }
    boards["platform.json"] = platform_dashboard(stack, services, gpu_metrics=eks and any(s.gpu_type for s in services))
    return boards
