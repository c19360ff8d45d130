"""`promtool test rules`: every rendered alert fires on a series that should fire it and stays
silent on a healthy one. An alert without a scenario here fails the test, so a new alert
cannot ship untested."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlinfra.monitoring.slo import le_label
from mlinfra.serving import metric_names as m
from mlinfra.spec.service import Objectives
from tests.gate import tools
from tests.gate.conftest import STACKS

pytestmark = [pytest.mark.tools, pytest.mark.slow]
EVAL_AT = "40m"  # past every alert's `for` (the longest is 15m) plus the 15m rate windows


def _scenarios(service: str, namespace: str) -> dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]]:
    """alert -> (series that must fire it, healthy series that must not). 1-minute steps."""
    model = f'{m.LABEL_MODEL}="{service}"'
    ns = f'namespace="{namespace}"'
    req, dur = m.REQUESTS_TOTAL, f"{m.REQUEST_DURATION_SECONDS}_bucket"

    def series(name: str, values: str) -> dict[str, str]:
        return {"series": name, "values": values}

    # dcgm-exporter's series as Prometheus stores them: with honorLabels the GPU pod's namespace
    # replaces the exporter's own; without it the exporter's stays and the pod's is renamed.
    gpu_ns = f'{m.LABEL_GPU_NAMESPACE}="{namespace}"'
    if m.LABEL_GPU_NAMESPACE != "namespace":
        gpu_ns += ',namespace="monitoring"'
    le = f'le="{le_label(Objectives().latency_seconds)}"'
    errors_burning = (
        [
            series(f'{req}{{{model},{m.LABEL_STATUS}="500"}}', "0+60x60"),
            series(f'{req}{{{model},{m.LABEL_STATUS}="200"}}', "0+60x60"),
        ],
        [
            series(f'{req}{{{model},{m.LABEL_STATUS}="500"}}', "0+1x60"),
            series(f'{req}{{{model},{m.LABEL_STATUS}="200"}}', "0+100000x60"),
        ],
    )
    count = f"{m.REQUEST_DURATION_SECONDS}_count"
    latency_burning = (
        [series(f"{dur}{{{model},{le}}}", "0+0x60"), series(f"{count}{{{model}}}", "0+60x60")],
        [series(f"{dur}{{{model},{le}}}", "0+100000x60"), series(f"{count}{{{model}}}", "0+100001x60")],
    )

    return {
        "MlinfraHighErrorRate": (
            [
                series(f'{req}{{{model},{m.LABEL_STATUS}="500"}}', "0+60x60"),
                series(f'{req}{{{model},{m.LABEL_STATUS}="200"}}', "0+60x60"),
            ],
            [
                series(f'{req}{{{model},{m.LABEL_STATUS}="500"}}', "0+1x60"),
                series(f'{req}{{{model},{m.LABEL_STATUS}="200"}}', "0+600x60"),
            ],
        ),
        "MlinfraHighLatencyP99": (
            [
                series(f'{dur}{{{model},le="0.1"}}', "0+0x60"),
                series(f'{dur}{{{model},le="2"}}', "0+60x60"),
                series(f'{dur}{{{model},le="+Inf"}}', "0+60x60"),
            ],
            [
                series(f'{dur}{{{model},le="0.1"}}', "0+60x60"),
                series(f'{dur}{{{model},le="2"}}', "0+60x60"),
                series(f'{dur}{{{model},le="+Inf"}}', "0+60x60"),
            ],
        ),
        "MlinfraUnavailable": (
            [series(f'{m.MODEL_READY}{{{model},pod="a"}}', "0x60")],
            [series(f'{m.MODEL_READY}{{{model},pod="a"}}', "1x60")],
        ),
        "MlinfraPodRestarts": (
            [series(f'kube_pod_container_status_restarts_total{{{ns},pod="a"}}', "0+1x60")],
            [series(f'kube_pod_container_status_restarts_total{{{ns},pod="a"}}', "2x60")],
        ),
        "MlinfraGpuSaturated": (
            [series(f'{m.DCGM_GPU_UTIL}{{{gpu_ns},gpu="0"}}', "97x60")],
            [series(f'{m.DCGM_GPU_UTIL}{{{gpu_ns},gpu="0"}}', "40x60")],
        ),
        "MlinfraAvailabilityBudgetBurn": errors_burning,
        "MlinfraAvailabilityBudgetDrain": errors_burning,
        "MlinfraLatencyBudgetBurn": latency_burning,
        "MlinfraLatencyBudgetDrain": latency_burning,
    }


def _namespace_label(out: Path, rule_file: Path, service: str) -> str:
    """The `namespace` label the service's series really carry, which the alerts select on.

    EKS (`<namespace>.<name>.yaml` from a PrometheusRule): the Kubernetes namespace the service
    runs in. ECS (`amp.<name>.yaml` from an AMP rule groups namespace): the label the service's
    ADOT collector sidecar attaches, read from the rendered task definition.
    """
    prefix = rule_file.name.split(".", 1)[0]
    if prefix != "amp":
        return prefix
    for path in sorted((out / "ecs").glob("*.json")):
        containers = json.loads(path.read_text())["containerDefinitions"]
        model = next(c for c in containers if c["name"] == "model")
        if model.get("dockerLabels", {}).get("mlinfra.service") != service:
            continue
        for container in containers:
            env = {e["name"]: e["value"] for e in container.get("environment", [])}
            if "AOT_CONFIG_CONTENT" in env:
                scrape = yaml.safe_load(env["AOT_CONFIG_CONTENT"])["receivers"]["prometheus"]["config"]
                [static] = [sc for job in scrape["scrape_configs"] for sc in job["static_configs"]]
                return str(static["labels"]["namespace"])
    raise AssertionError(f"{rule_file.name}: no task definition with a metrics collector for {service}")


def _test_case(rule: dict[str, Any], input_series: list[dict[str, str]], fires: bool) -> dict[str, Any]:
    expected = [{"exp_labels": dict(rule["labels"]), "exp_annotations": dict(rule["annotations"])}] if fires else []
    return {
        "interval": "1m",
        "input_series": input_series,
        "alert_rule_test": [{"eval_time": EVAL_AT, "alertname": rule["alert"], "exp_alerts": expected}],
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_fires_on_bad_series_and_not_on_healthy(
    render_stack: Callable[[str], Path], stack: str, tmp_path: Path
) -> None:
    promtool = tools.promtool()
    out = render_stack(stack)
    rule_files = sorted((out / "prometheus").glob("*.yaml"))
    assert rule_files
    for rule_file in rule_files:
        groups = yaml.safe_load(rule_file.read_text())["groups"]
        tests, missing = [], []
        for group in groups:
            for rule in group["rules"]:
                service = rule["labels"]["service"]
                scenarios = _scenarios(service, _namespace_label(out, rule_file, service))
                if rule["alert"] not in scenarios:
                    missing.append(rule["alert"])
                    continue
                bad, healthy = scenarios[rule["alert"]]
                tests += [_test_case(rule, bad, fires=True), _test_case(rule, healthy, fires=False)]
        assert not missing, f"alerts without a promtool unit test: {missing}"
        test_file = tmp_path / f"{rule_file.stem}.test.yaml"
        test_file.write_text(
            yaml.safe_dump(
                {"rule_files": [str(rule_file)], "evaluation_interval": "1m", "tests": tests}, sort_keys=False
            )
        )
        result = subprocess.run(
            [promtool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout + result.stderr
