"""Pod scaling on EKS (KEDA ScaledObjects) and the autoscaling settings each platform honours."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlinfra.engine.cost import estimate, load_prices
from mlinfra.engine.recorder import RecordedResource
from mlinfra.engine.runner import OfflineRun, run_offline
from mlinfra.errors import SpecError
from mlinfra.serving import metric_names as m
from mlinfra.serving.metrics import Metrics
from mlinfra.spec.platforms.scaling import ecs_problems
from mlinfra.spec.service import Autoscaling, ServiceSpec
from tests.core.conftest import all_of, only
from tests.support.promql import metric_names

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
FRAUD_SCALING = '"min_replicas": 3, "max_replicas": 12, "target_cpu_percent": 60'


def _edit(root: Path, file: str, old: str, new: str) -> None:
    text = (root / file).read_text()
    assert old in text, (old, file)
    (root / file).write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> OfflineRun:
    """The example project with request-rate scaling on the CPU service and GPU-utilisation
    scaling on the GPU service, in staging (no stack override of either's autoscaling)."""
    from tests.core.conftest import ROOT

    root = tmp_path_factory.mktemp("variant")
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_text((ROOT / name).read_text())
    for sub in ("services", "stacks"):
        (root / sub).mkdir()
        for path in (ROOT / sub).iterdir():
            if path.is_file():
                (root / sub / path.name).write_text(path.read_text())
    _edit(root, "services/fraud.py", FRAUD_SCALING, FRAUD_SCALING + ', "target_requests_per_second": 50')
    ranker_scaling = '    autoscaling={"min_replicas": 0, "max_replicas": 2, "target_gpu_percent": 70},\n'
    _edit(root, "services/ranker.py", "    replicas=2,\n", ranker_scaling)
    stack = root / "stacks" / "Pulumi.staging.yaml"
    text = stack.read_text()
    stack.write_text(text[: text.index("  mlinfra:services:")] + text[text.index("  mlinfra:secrets:") :])
    return run_offline(root, "staging")


def _scaler(run: OfflineRun, service: str) -> dict[str, Any]:
    return only(run, SCALED_OBJECT, f"{service}-scaledobject").inputs["spec"]


def _triggers(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in spec["triggers"]}


def test_request_rate_scales_an_eks_service(variant: OfflineRun) -> None:
    triggers = _triggers(_scaler(variant, "fraud-detector"))
    rps = triggers["requests-per-second"]
    assert (rps["type"], rps["metricType"], rps["metadata"]["threshold"]) == ("prometheus", "AverageValue", "50")
    assert rps["metadata"]["query"] == (
        'sum(rate(mlinfra_requests_total{namespace="ml-fraud-detector",route!="other"}[2m]))'
    )
    # In flight per replica (one batch by default) and CPU scale it as well.
    assert triggers["inflight"]["metadata"]["threshold"] == "32"
    assert triggers["cpu"]["metadata"] == {"value": "60"}


def test_a_gpu_service_scales_on_gpu_utilisation_not_cpu_and_may_reach_zero_in_staging(variant: OfflineRun) -> None:
    spec = _scaler(variant, "search-ranker")
    triggers = _triggers(spec)
    assert set(triggers) == {"inflight", "gpu-utilisation"}
    gpu = triggers["gpu-utilisation"]
    assert (gpu["metricType"], gpu["metadata"]["threshold"]) == ("Value", "70")
    assert gpu["metadata"]["query"] == 'avg(DCGM_FI_DEV_GPU_UTIL{namespace="ml-search-ranker"})'
    assert spec["minReplicaCount"] == 0
    deployment = only(variant, "kubernetes:apps/v1:Deployment", "search-ranker-deployment").inputs
    assert "replicas" not in deployment["spec"]


def _exported_names() -> set[str]:
    """Every metric family name the runtime's /metrics really exposes."""
    metrics = Metrics("x")
    metrics.observe(m.ROUTE_PREDICT, 200, 0.01)
    text = metrics.render().decode()
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def _queries(*runs: OfflineRun) -> list[str]:
    return [
        t["metadata"]["query"]
        for run in runs
        for res in all_of(run, SCALED_OBJECT)
        for t in res.inputs["spec"]["triggers"]
        if t["type"] == "prometheus"
    ]


def unexported(query: str, exported: set[str]) -> list[str]:
    found = []
    for name in metric_names(query):
        known = name in m.DCGM_METRICS if name.startswith("DCGM_") else name in exported
        if not known:
            found.append(name)
    return found


def test_every_trigger_query_names_only_metrics_the_runtime_or_dcgm_exports(
    staging: OfflineRun, prod: OfflineRun, variant: OfflineRun
) -> None:
    exported = _exported_names()
    assert m.INFLIGHT_REQUESTS in exported
    queries = _queries(staging, prod, variant)
    assert len(queries) >= 4
    assert {q: unexported(q, exported) for q in queries if unexported(q, exported)} == {}
    # The check fails on a name the runtime does not export.
    assert unexported("sum(mlinfra_inflight_request{namespace='x'})", exported) == ["mlinfra_inflight_request"]


def test_fixed_size_services_carry_replicas_and_no_scaler(staging: OfflineRun) -> None:
    assert [r.name for r in all_of(staging, SCALED_OBJECT)] == ["fraud-detector-scaledobject"]
    # Under staging's canary delivery the Rollout owns the pods and carries the count.
    ranker = only(staging, "kubernetes:argoproj.io/v1alpha1:Rollout", "search-ranker-rollout").inputs["spec"]
    assert ranker["replicas"] == 1
    assert "replicas" not in only(staging, "kubernetes:apps/v1:Deployment", "search-ranker-deployment").inputs["spec"]
    assert not all_of(staging, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")


def test_the_scaler_takes_over_the_old_hpa_deleting_it_first(staging: OfflineRun) -> None:
    """KEDA's webhook refuses a ScaledObject whose Deployment another HPA scales, so upgrading a
    stack must delete mlinfra's old HPA before the ScaledObject is created."""
    res: RecordedResource = only(staging, SCALED_OBJECT, "fraud-detector-scaledobject")
    assert res.options["aliases"] == ["kubernetes:autoscaling/v2:HorizontalPodAutoscaler::fraud-detector-hpa"]
    assert res.options["deleteBeforeReplace"] is True
    assert res.options["replaceOnChanges"] == ["apiVersion", "kind"]


def test_cost_ranges_follow_the_scaler_bounds(prod: OfflineRun) -> None:
    from mlinfra.engine.plan import plan_document

    doc = plan_document(prod)
    lines = {r["urn"].rsplit("::", 1)[-1]: r for r in estimate(doc, load_prices("us-east-1"))["resources"]}
    line = lines["fraud-detector-deployment"]
    assert "3\u201312 replicas" in line["basis"]
    assert line["max"] == pytest.approx(line["min"] * 4)


def test_ecs_refuses_what_only_keda_reads() -> None:
    spec = ServiceSpec(
        name="a",
        model_uri="s3://b-1/m/x.onnx",
        autoscaling=Autoscaling(min_replicas=0, max_replicas=3, target_inflight_requests=4),
    )
    problems = [f"{p.field}: {p.allowed}" for p in ecs_problems(spec, {"a": "services/a.py"})]
    field = "ModelService('a').autoscaling"
    assert any(p.startswith(f"{field}.target_inflight_requests: not supported on ECS") for p in problems)
    assert any(p.startswith(f"{field}.min_replicas: ECS target tracking cannot") for p in problems)


def test_scale_to_zero_is_refused_for_public_services(project: Callable[..., Path]) -> None:
    from tests.core.conftest import STACK_HEADER

    service = (
        'from mlinfra import ModelService\nModelService("a", model_uri="s3://b-1/m/x.onnx", public=True, '
        'auth="api_key", secrets=["api-keys"], autoscaling={"min_replicas": 0, "max_replicas": 2})\n'
    )
    root = project(services={"a.py": service}, stacks={"s": STACK_HEADER + "  mlinfra:secrets:\n    api-keys: k\n"})
    with pytest.raises(SpecError) as err:
        run_offline(root, "s")
    text = str(err.value)
    assert "ModelService('a').autoscaling.min_replicas" in text
    assert "refused for a service that is public" in text
