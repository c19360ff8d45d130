"""`promtool test rules`: each KEDA trigger query, evaluated by real Prometheus code over series
as Prometheus stores the runtime's and dcgm-exporter's metrics, gives the number KEDA should
scale on: only the service's own pods, inference routes only, per-second rates."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from mlinfra.components.k8s_scaling import queries
from mlinfra.serving import metric_names as m
from mlinfra.spec.service import Autoscaling, ServiceSpec
from tests.gate import tools

pytestmark = pytest.mark.tools
NS, OTHER = "ml-svc", "ml-other"


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def test_trigger_queries_compute_what_keda_scales_on(tmp_path: Path) -> None:
    spec = ServiceSpec(
        name="svc",
        model_uri="s3://b-1/m/x.pt",
        gpu=True,
        autoscaling=Autoscaling(min_replicas=1, max_replicas=4, target_requests_per_second=5, target_gpu_percent=70),
    )
    found = queries(spec, NS)
    assert set(found) == {"inflight", "requests-per-second", "gpu-utilisation"}
    ok = {m.LABEL_ROUTE: m.ROUTE_PREDICT, m.LABEL_STATUS: "200"}
    series = [
        # Two replicas of the service, 10 and 30 requests in flight; another service's 100.
        _series(m.INFLIGHT_REQUESTS, {"namespace": NS, "pod": "a", m.LABEL_MODEL: "svc"}, "10x10"),
        _series(m.INFLIGHT_REQUESTS, {"namespace": NS, "pod": "b", m.LABEL_MODEL: "svc"}, "30x10"),
        _series(m.INFLIGHT_REQUESTS, {"namespace": OTHER, "pod": "c", m.LABEL_MODEL: "other"}, "100x10"),
        # 60 inference requests a minute on each of two pods (2/s in all); 600 a minute of
        # refusals elsewhere (route="other"), which are not load.
        _series(m.REQUESTS_TOTAL, {"namespace": NS, "pod": "a", **ok}, "0+60x10"),
        _series(m.REQUESTS_TOTAL, {"namespace": NS, "pod": "b", **ok}, "0+60x10"),
        _series(
            m.REQUESTS_TOTAL,
            {"namespace": NS, "pod": "a", m.LABEL_ROUTE: m.ROUTE_OTHER, m.LABEL_STATUS: "404"},
            "0+600x10",
        ),
        _series(m.REQUESTS_TOTAL, {"namespace": OTHER, "pod": "c", **ok}, "0+6000x10"),
        # dcgm-exporter with honorLabels: the GPU pod's namespace is `namespace`.
        _series(m.DCGM_GPU_UTIL, {m.LABEL_GPU_NAMESPACE: NS, "gpu": "0"}, "80x10"),
        _series(m.DCGM_GPU_UTIL, {m.LABEL_GPU_NAMESPACE: NS, "gpu": "1"}, "40x10"),
        _series(m.DCGM_GPU_UTIL, {m.LABEL_GPU_NAMESPACE: OTHER, "gpu": "0"}, "0x10"),
    ]
    expected = {"inflight": 40, "requests-per-second": 2, "gpu-utilisation": 60}
    test = {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            {"expr": found[name], "eval_time": "5m", "exp_samples": [{"labels": "{}", "value": value}]}
            for name, value in expected.items()
        ],
    }
    test_file = tmp_path / "scaling.test.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": [test]}))
    result = subprocess.run(
        [tools.promtool(), "test", "rules", str(test_file)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
