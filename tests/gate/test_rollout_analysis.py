"""`promtool test rules` on the canary analysis's queries: a canary worse than the ceiling and
the stable version fails a measurement; a healthy one, one no worse than a struggling stable
version, and one without traffic yet pass. The queries are the AnalysisTemplate's own, with the
pod-template hashes Argo substitutes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from mlinfra.components.addons import PROMETHEUS_ADDRESS
from mlinfra.components.k8s_rollout import POD_TEMPLATE_HASH, analysis_template_spec, prometheus_label
from mlinfra.serving import metric_names as m
from mlinfra.spec.service import ServiceSpec
from tests.gate import tools

pytestmark = [pytest.mark.tools, pytest.mark.slow]
SPEC = ServiceSpec(name="fraud", model_uri="s3://bkt/x/m.onnx", rollout={})
HASH = prometheus_label(POD_TEMPLATE_HASH)
BUCKETS = ("0.1", "0.5", "1", "2.5", "+Inf")


def query(metric: str) -> str:
    [found] = [
        q["provider"]["prometheus"]["query"]
        for q in analysis_template_spec(SPEC, PROMETHEUS_ADDRESS)["metrics"]  # type: ignore[union-attr]
        if q["name"] == metric  # type: ignore[index]
    ]
    return str(found).replace("{{args.canary-hash}}", "c").replace("{{args.stable-hash}}", "s")


def requests(version: str, errors_per_min: int, ok_per_min: int) -> list[dict[str, str]]:
    sel = f'{m.LABEL_MODEL}="fraud",{HASH}="{version}"'
    return [
        {"series": f'{m.REQUESTS_TOTAL}{{{sel},{m.LABEL_STATUS}="500"}}', "values": f"0+{errors_per_min}x20"},
        {"series": f'{m.REQUESTS_TOTAL}{{{sel},{m.LABEL_STATUS}="200"}}', "values": f"0+{ok_per_min}x20"},
    ]


def latencies(version: str, slowest_bucket: str) -> list[dict[str, str]]:
    """60 requests a minute, all within `slowest_bucket` and none faster than the bucket below."""
    sel = f'{m.LABEL_MODEL}="fraud",{HASH}="{version}"'
    edge = BUCKETS.index(slowest_bucket)
    return [
        {
            "series": f'{m.REQUEST_DURATION_SECONDS}_bucket{{{sel},le="{le}"}}',
            "values": f"0+{60 if i >= edge else 0}x20",
        }
        for i, le in enumerate(BUCKETS)
    ]


CASES = {
    "error-ratio": [
        ("canary fails 10%, stable none", requests("c", 6, 54) + requests("s", 0, 60), 1),
        ("both healthy", requests("c", 0, 60) + requests("s", 0, 60), 0),
        ("canary no worse than a struggling stable", requests("c", 6, 54) + requests("s", 6, 54), 0),
        ("no traffic yet", [], 0),
    ],
    "p99-latency": [
        ("canary p99 above 1 s", latencies("c", "2.5") + latencies("s", "0.1"), 1),
        ("both fast", latencies("c", "0.1") + latencies("s", "0.1"), 0),
        ("no traffic yet", [], 0),
    ],
}


@pytest.mark.parametrize("metric", sorted(CASES))
def test_analysis_fails_only_a_canary_worse_than_ceiling_and_stable(tmp_path: Path, metric: str) -> None:
    tests = [
        {
            "name": name,
            "interval": "1m",
            "input_series": series,
            # The AnalysisTemplate's successCondition is `result[0] <= 0`.
            "promql_expr_test": [
                {
                    "expr": f"({query(metric)}) > bool 0",
                    "eval_time": "10m",
                    "exp_samples": [{"labels": "{}", "value": failing}],
                }
            ],
        }
        for name, series, failing in CASES[metric]
    ]
    (tmp_path / "empty.yaml").write_text("groups: []\n")
    path = tmp_path / "analysis_test.yaml"
    path.write_text(yaml.safe_dump({"rule_files": ["empty.yaml"], "evaluation_interval": "1m", "tests": tests}))
    result = subprocess.run(
        [tools.promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
