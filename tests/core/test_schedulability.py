"""The schedulability proof: a service that fits no node of its pool, or whose maximum scale
(plus the rolling update's surge pod) exceeds the pool's limits, is refused with the numbers and
the fix; the staging and prod stacks prove, and their pods land where the proof put them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlinfra.engine.graph import ResourceGraph
from mlinfra.engine.pricers.karpenter import _node_pool
from mlinfra.engine.pricing import load_prices
from mlinfra.engine.runner import OfflineRun, run_offline
from mlinfra.errors import Problem
from mlinfra.spec.nodepools import NodePool, PoolLimits
from mlinfra.spec.schedulability import SURGE_PODS, kube_reserved_cpu_m, node_shape, prove
from mlinfra.spec.service import ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
FILE = "stacks/Pulumi.s.yaml"


def ranker(**fields: Any) -> ServiceSpec:
    return ServiceSpec(name="ranker", model_uri="s3://models/ranker/model.onnx", gpu="a10g", **fields)


def gpu_pool(**fields: Any) -> dict[str, NodePool]:
    return {"cpu": NodePool(), "gpu-a10g": NodePool(gpu_type="a10g", **fields)}


def refused(pools: dict[str, NodePool], *services: ServiceSpec) -> list[Problem]:
    return prove(pools, services, {s.name: "services/s.py:3" for s in services}, FILE)[1]


def test_kube_reserved_cpu_is_karpenters_formula() -> None:
    # 6% of core 1 + 1% of core 2 (+ 0.5% of cores 3-4 + 0.25% beyond), in millicores.
    assert kube_reserved_cpu_m(2) == 70
    assert kube_reserved_cpu_m(4) == 80
    assert kube_reserved_cpu_m(8) == 90
    shape = node_shape("g5.xlarge")
    # 16 GiB less 7.5% VM overhead, 11 x 58 pods + 255 MiB, 100 MiB eviction, 512 MiB daemons.
    assert shape.memory_mib == 16384 - 1229 - (11 * 58 + 255) - 100 - 512


def test_a_service_too_large_for_any_instance_of_its_pool_is_refused() -> None:
    [problem] = refused(gpu_pool(instance_types=("g5.xlarge",)), ranker(memory="15Gi"))
    assert problem.field == "ModelService('ranker').memory"
    assert problem.file == "services/s.py:3"
    assert problem.value == "15.0 GiB"
    text = problem.allowed
    assert "pool 'gpu-a10g'" in text
    assert "g5.xlarge: 3.72 vCPU, 13.3 GiB, 1 GPU" in text
    assert "at most 13.3 GiB" in text
    assert "add g5.2xlarge" in text
    assert "mlinfra:nodePools.gpu-a10g.instanceTypes in stacks/Pulumi.s.yaml" in text


def test_more_gpus_than_any_instance_has_is_refused() -> None:
    [problem] = refused(gpu_pool(instance_types=("g5.xlarge", "g5.2xlarge")), ranker(gpu_count=4))
    assert problem.field == "ModelService('ranker').gpu_count"
    assert problem.value == "4 GPU"
    assert "at most 1 GPU" in problem.allowed
    assert "add g5.12xlarge" in problem.allowed


def test_a_max_scale_beyond_the_pool_limit_is_refused_with_the_fix() -> None:
    service = ranker(autoscaling={"min_replicas": 1, "max_replicas": 6})
    [problem] = refused(gpu_pool(limits=PoolLimits(gpus=4)), service)
    assert (problem.file, problem.field, problem.value) == (FILE, "mlinfra:nodePools.gpu-a10g.limits.gpus", 4)
    text = problem.allowed
    assert "need 7 GPUs of nodes" in text
    assert "ranker: 6 replicas + 1 surge pod, 1 per g5.xlarge = 7 node(s) = 7 GPUs" in text
    assert "limits.gpus of 7 or more, or ranker autoscaling.maxReplicas at most 3" in text


def test_a_gpu_image_change_on_a_full_pool_still_has_room_for_the_surge_pod() -> None:
    """At max scale the pool is full; the rolling update's extra pod needs one more node, which
    the limit must leave, or the rollout waits forever for a node Karpenter may not launch."""
    service = ranker(replicas=4)
    exactly_full = refused(gpu_pool(limits=PoolLimits(gpus=4)), service)
    assert [p.field for p in exactly_full] == ["mlinfra:nodePools.gpu-a10g.limits.gpus"]
    assert "surge pod too, so the rollout stalls" in exactly_full[0].allowed
    fits, problems = prove(gpu_pool(limits=PoolLimits(gpus=5)), [service], {}, FILE)
    assert problems == []
    [fit] = fits
    assert fit.max_pods == 4 + SURGE_PODS
    assert fit.at_max.nodes == 5


def test_cpu_services_share_the_cpu_pools_limit() -> None:
    big = ServiceSpec(
        name="a",
        model_uri="s3://models/a/model.onnx",
        cpu="3",
        memory="4Gi",
        autoscaling={"min_replicas": 1, "max_replicas": 9},
    )
    other = ServiceSpec(name="b", model_uri="s3://models/b/model.onnx", cpu="3", memory="4Gi", replicas=2)
    pools = {"cpu": NodePool(instance_types=("m6i.xlarge",), limits=PoolLimits(cpu=40))}
    [problem] = refused(pools, big, other)
    # 10 + 3 pods of 3 vCPU, one per m6i.xlarge (3.72 vCPU for pods): 13 nodes x 4 vCPU.
    assert "need 52 vCPUs" in problem.allowed
    assert "a autoscaling.maxReplicas at most 6" in problem.allowed


def test_a_gpu_service_without_a_pool_of_its_type_is_refused() -> None:
    [problem] = refused({"cpu": NodePool()}, ranker())
    assert problem.field == "ModelService('ranker').gpu"
    assert "no node pool for a10g GPU services" in problem.allowed
    assert "{gpu-a10g: {gpuType: a10g, limits: {gpus: 2}}}" in problem.allowed


def _edited_stack(tmp_path: Path, edit: Any) -> Path:
    for name in ("Pulumi.yaml", "__main__.py", "services", "stacks"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, tmp_path / name)
    path = tmp_path / "stacks" / "Pulumi.staging.yaml"
    doc = yaml.safe_load(path.read_text())
    edit(doc["config"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return tmp_path


def plan(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlinfra", "plan", "-C", str(root), "--stack", "staging"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_old_gpu_node_group_keys_exit_2_naming_the_new_ones(tmp_path: Path) -> None:
    def old(config: dict[str, Any]) -> None:
        config["mlinfra:gpuNodeGroups"] = {"gpu-a10g": {"gpuType": "a10g", "minSize": 0, "maxSize": 2}}

    result = plan(_edited_stack(tmp_path, old))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "stacks/Pulumi.staging.yaml: mlinfra:gpuNodeGroups" in result.stderr
    assert "replaced by Karpenter node pools" in result.stderr
    assert "limits.gpus instead of maxSize" in result.stderr
    assert "mlinfra:nodePools:" in result.stderr


def test_a_stack_override_beyond_the_pool_is_refused_by_the_cli(tmp_path: Path) -> None:
    def scale(config: dict[str, Any]) -> None:
        config["mlinfra:services"]["search-ranker"] = {"replicas": 3}

    result = plan(_edited_stack(tmp_path, scale))
    assert result.returncode == 2, result.stderr
    assert "mlinfra:nodePools.gpu-a10g.limits.gpus = 3" in result.stderr
    assert "search-ranker: 3 replicas + 1 surge pod" in result.stderr
    assert "search-ranker replicas at most 2" in result.stderr


@pytest.fixture(scope="module")
def runs() -> dict[str, OfflineRun]:
    return {stack: run_offline(ROOT, stack) for stack in ("staging", "prod")}


def of_type(run: OfflineRun, token: str) -> list[Any]:
    return [r for r in run.resources if r.type == token]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_pods_select_their_pool_and_tolerate_its_taints(runs: dict[str, OfflineRun], stack: str) -> None:
    nodepools = of_type(runs[stack], "kubernetes:karpenter.sh/v1:NodePool")
    pools = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in nodepools}
    for deployment in of_type(runs[stack], "kubernetes:apps/v1:Deployment"):
        pod = deployment.inputs["spec"]["template"]["spec"]
        selector = pod["nodeSelector"]
        template = pools[selector.pop("karpenter.sh/nodepool")]["template"]
        assert all(template["metadata"]["labels"].get(k) == v for k, v in selector.items()), deployment.name
        tolerated = {(t["key"], t["effect"]) for t in pod.get("tolerations") or []}
        assert {(t["key"], t["effect"]) for t in template["spec"].get("taints") or []} <= tolerated
        # The proof counts one surge pod per service: the strategy it assumes.
        strategy = deployment.inputs["spec"]["strategy"]["rollingUpdate"]
        assert (strategy["maxSurge"], strategy["maxUnavailable"]) == (SURGE_PODS, 0)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_plan_carries_the_proof_and_the_gpu_pool_has_room_for_the_surge(stack: str) -> None:
    from mlinfra.engine.plan import plan_document

    doc = plan_document(run_offline(ROOT, stack))
    rows = {row["service"]: row for row in doc["scheduling"]}
    ranker_row = rows["search-ranker"]
    assert ranker_row["pool"] == "gpu-a10g"
    assert ranker_row["capacity_at_max"]["gpus"] <= ranker_row["limits"]["gpus"]
    replicas = {"staging": 1, "prod": 3}[stack]
    assert ranker_row["max_pods"] == replicas + SURGE_PODS


def _pool_resource(name: str, instance_types: list[str], capacity: str) -> dict[str, Any]:
    """A rendered Karpenter NodePool as the plan records it: instance types and capacity type."""
    requirements = [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": instance_types},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [capacity]},
    ]
    return {
        "urn": f"urn:{name}",
        "type": "kubernetes:karpenter.sh/v1:NodePool",
        "inputs": {"metadata": {"name": name}, "spec": {"template": {"spec": {"requirements": requirements}}}},
    }


def test_a_gpu_pool_whose_services_may_be_at_zero_costs_nothing_then() -> None:
    pool = _pool_resource("gpu-a10g", ["g5.xlarge"], "spot")
    pod = {"containers": [{"resources": {"requests": {"cpu": "3", "memory": "12Gi", "nvidia.com/gpu": "1"}}}]}
    deployment = {
        "urn": "urn:dep",
        "type": "kubernetes:apps/v1:Deployment",
        "inputs": {
            "metadata": {"name": "r", "namespace": "ml-r"},
            "spec": {"template": {"spec": {**pod, "nodeSelector": {"karpenter.sh/nodepool": "gpu-a10g"}}}},
        },
    }
    hpa = {
        "urn": "urn:hpa",
        "type": "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "inputs": {
            "metadata": {"namespace": "ml-r"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "r"}, "minReplicas": 0, "maxReplicas": 2},
        },
    }
    graph = ResourceGraph([pool, deployment, hpa])
    prices = load_prices("us-east-1")
    assert prices is not None
    line = _node_pool(pool, prices, graph)
    assert not isinstance(line, str)
    assert line.low == 0
    assert line.high == pytest.approx(2 * 1.006 * 730)
    assert "spot priced at on-demand" in line.basis
    # With spot rates from --live-prices the same pool costs the spot rate, and says where it is from.
    spot = load_prices("us-east-1", spot={"g5.xlarge": 0.45})
    assert spot is not None
    line = _node_pool(pool, spot, graph)
    assert not isinstance(line, str)
    assert line.high == pytest.approx(2 * 0.45 * 730)
    assert "current spot price (EC2 spot price history, a snapshot)" in line.basis
    assert "EC2 spot price history (spot: g5.xlarge)" in spot.source


def test_messages_stay_whole_for_a_pool_of_many_instance_types() -> None:
    from mlinfra.errors import MAX_MESSAGE

    types = ("g5.xlarge", "g5.2xlarge", "g5.4xlarge", "g5.8xlarge", "g5.12xlarge", "g5.48xlarge")
    [problem] = refused(gpu_pool(instance_types=types), ranker(memory="2000Gi"))
    assert "and 2 more" in problem.allowed
    assert len(problem.allowed) <= MAX_MESSAGE
    assert problem.allowed.endswith("no g5 instance type mlinfra knows is large enough")


def test_a_spot_pool_with_a_type_without_a_spot_offer_says_which_rate_each_type_got() -> None:
    pool = _pool_resource("cpu", ["g5.xlarge", "g5.2xlarge"], "spot")
    on_demand = _pool_resource("od", ["g5.xlarge", "g5.2xlarge"], "on-demand")
    from mlinfra.engine.pricers.karpenter import _spot_note, pool_shapes, spot_pool_types

    assert spot_pool_types([pool, on_demand]) == ["g5.2xlarge", "g5.xlarge"]  # only the spot pool's
    prices = load_prices("us-east-1", spot={"g5.xlarge": 0.45})
    assert prices is not None
    rates = {s.instance_type: s.hourly for s in pool_shapes(pool, prices)}
    assert rates["g5.xlarge"] == 0.45
    assert rates["g5.2xlarge"] == prices.ec2("g5.2xlarge")["hourly"]  # type: ignore[index]
    note = _spot_note(pool, prices)
    assert "current spot price" in note
    assert "for g5.xlarge; g5.2xlarge at on-demand (no spot offer found)" in note
    assert {s.hourly for s in pool_shapes(on_demand, prices)} == {
        prices.ec2(t)["hourly"] for t in ("g5.xlarge", "g5.2xlarge")
    }  # type: ignore[index]
