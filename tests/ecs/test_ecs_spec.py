"""ECS settings and the ECS-only input rules, through the same loader `mlinfra plan` uses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mlinfra.engine.runner import project_name
from mlinfra.spec.ecs import (
    FARGATE_SIZES,
    EcsSettings,
    GpuCapacity,
    cpu_units,
    fargate_allowed,
    gpus_per_instance,
    listener_rule_priority,
)
from mlinfra.spec.errors import SpecError
from mlinfra.spec.loader import load_deployment, read_stack_file

from .conftest import ROOT


def load(root: Path, stack: str = "dev"):
    return load_deployment(root, project_name(root), stack, read_stack_file(root, stack))


@pytest.mark.parametrize(
    ("millicores", "units"),
    [(250, 256), (500, 512), (1000, 1024), (3000, 3072), (16000, 16384), (1500, 1536), (100, None), (333, None)],
)
def test_cpu_units_are_exact_or_refused(millicores: int, units: int | None) -> None:
    assert cpu_units(millicores) == units


@pytest.mark.parametrize(
    ("units", "memory"),
    [(256, 512), (256, 2048), (512, 4096), (1024, 8192), (2048, 16384), (4096, 30720), (8192, 20480), (16384, 122880)],
)
def test_fargate_accepts_the_documented_sizes(units: int, memory: int) -> None:
    assert fargate_allowed(units, memory) is None


@pytest.mark.parametrize(
    ("units", "memory", "hint"),
    [
        (256, 4096, "512Mi, 1024Mi, 2048Mi"),  # too much memory for 0.25 vCPU
        (1024, 1024, "2048Mi-8192Mi"),  # too little for 1 vCPU
        (2048, 4608, "4096Mi-16384Mi in steps of 1024Mi"),  # not a whole GiB
        (8192, 18432, "16384Mi-61440Mi in steps of 4096Mi"),  # 8 vCPU steps by 4 GiB
        (1536, 4096, "not a Fargate task size"),  # 1.5 vCPU does not exist
        (None, 2048, "not a Fargate task size"),
    ],
)
def test_fargate_rejects_other_sizes_and_says_what_is_allowed(units: int | None, memory: int, hint: str) -> None:
    allowed = fargate_allowed(units, memory)
    assert allowed is not None
    assert hint in allowed


def test_fargate_table_has_every_documented_cpu() -> None:
    assert sorted(FARGATE_SIZES) == [256, 512, 1024, 2048, 4096, 8192, 16384]
    assert len(FARGATE_SIZES[8192]) == 12  # 16..60 GiB in 4 GiB steps
    assert len(FARGATE_SIZES[16384]) == 12  # 32..120 GiB in 8 GiB steps


def test_listener_rule_priorities_are_stable_and_in_range() -> None:
    assert listener_rule_priority("fraud-detector") == listener_rule_priority("fraud-detector")
    priorities = {listener_rule_priority(f"svc-{i}") for i in range(200)}
    assert all(1 <= p <= 50000 for p in priorities)
    assert len(priorities) > 190


def test_ecs_settings_defaults_are_the_secure_ones() -> None:
    ecs = EcsSettings()
    assert ecs.container_insights == "enhanced"
    assert ecs.gpu_capacity == {}
    assert ecs.alb.routing == "host"
    assert ecs.alb.access_logs_bucket is None
    assert ecs.log_retention_days == 90


def test_gpu_capacity_defaults_and_family_check() -> None:
    assert GpuCapacity(gpu_type="l4").instance_types == ("g6.xlarge",)
    with pytest.raises(ValidationError, match="do not carry a a10g GPU"):
        GpuCapacity.model_validate({"gpuType": "a10g", "instanceTypes": ["g6.xlarge"]})
    with pytest.raises(ValidationError, match="min_size <= desired_size <= max_size"):
        GpuCapacity.model_validate({"minSize": 3, "maxSize": 2, "desiredSize": 2})


def test_unknown_ecs_field_is_a_problem_naming_allowed_fields(edited_project: Callable[..., Path]) -> None:
    root = edited_project(lambda c: c["mlinfra:ecs"].update({"containerInsight": "enabled"}))
    with pytest.raises(SpecError) as caught:
        load(root)
    text = str(caught.value)
    assert "stacks/Pulumi.dev.yaml: mlinfra:ecs.containerInsight = 'enabled'" in text
    assert "containerInsights" in text
    assert "gpuCapacity" in text


def test_ecs_settings_on_an_eks_stack_are_refused(edited_project: Callable[..., Path]) -> None:
    root = edited_project(lambda c: c.update({"mlinfra:platform": "eks"}))
    with pytest.raises(SpecError) as caught:
        load(root)
    (problem,) = caught.value.problems
    assert (problem.file, problem.field) == ("stacks/Pulumi.dev.yaml", "mlinfra:ecs")
    assert problem.allowed == "only used when mlinfra:platform is ecs; remove it or set platform: ecs"


def _break_everything(config: dict[str, Any]) -> None:
    config["mlinfra:ecs"].pop("gpuCapacity")  # GPU service, no GPU capacity
    config["mlinfra:services"]["fraud-detector"].update(
        {
            "memory": "3Gi",
            "cpu": "250m",  # not a Fargate size
            "port": 4317,  # the collector's OTLP port
            "secrets": ["fraud-api-key", "missing-key"],  # not defined in the stack
        }
    )
    config["mlinfra:services"]["search-ranker"]["requestTimeoutSeconds"] = 200  # beyond stopTimeout


def test_every_ecs_problem_is_reported_at_once(edited_project: Callable[..., Path]) -> None:
    root = edited_project(_break_everything)
    with pytest.raises(SpecError) as caught:
        load(root)
    problems = {(p.field, str(p.value)): p for p in caught.value.problems}
    fields = sorted(problems)
    assert ("ModelService('search-ranker').gpu", "a10g") in problems, fields
    gpu = problems[("ModelService('search-ranker').gpu", "a10g")]
    assert gpu.file == "services/ranker.py:5"
    assert "Fargate cannot run GPU tasks" in gpu.allowed
    assert "none configured" in gpu.allowed
    # Values set by the stack's overrides are reported where they were set: the stack file.
    size = problems[("mlinfra:services.fraud-detector.cpu/memory", "cpu=250m memory=3072Mi")]
    assert size.file == "stacks/Pulumi.dev.yaml"
    assert "512Mi, 1024Mi, 2048Mi" in size.allowed
    port = problems[("mlinfra:services.fraud-detector.port", "4317")]
    assert "1024-65535 except 2000, 4317, 4318, 8888, 13133" in port.allowed
    secret = problems[("mlinfra:services.fraud-detector.secrets", "missing-key")]
    assert "defined: fraud-api-key" in secret.allowed
    timeout = problems[("mlinfra:services.search-ranker.requestTimeoutSeconds", "200.0")]
    assert "at most 110" in timeout.allowed
    assert len(caught.value.problems) == 5


def test_gpu_node_groups_on_an_ecs_stack_are_not_silently_ignored(edited_project: Callable[..., Path]) -> None:
    root = edited_project(lambda c: c.update({"mlinfra:gpuNodeGroups": {"gpu": {"gpuType": "a10g"}}}))
    with pytest.raises(SpecError, match=r"mlinfra:ecs.gpuCapacity instead"):
        load(root)


def test_gpu_type_without_matching_capacity_names_what_exists(edited_project: Callable[..., Path]) -> None:
    root = edited_project(lambda c: c["mlinfra:services"]["search-ranker"].update({"gpu": "l4"}))
    with pytest.raises(SpecError) as caught:
        load(root)
    (problem,) = caught.value.problems
    assert problem.value == "l4"
    assert problem.allowed.endswith("(mlinfra:ecs.gpuCapacity): a10g")


@pytest.mark.parametrize(
    ("instance", "gpus"),
    [
        ("g5.xlarge", 1),
        ("g5.16xlarge", 1),
        ("g5.12xlarge", 4),
        ("g6e.24xlarge", 4),
        ("g5.48xlarge", 8),
        ("g4dn.metal", 8),
    ],
)
def test_gpus_per_instance(instance: str, gpus: int) -> None:
    assert gpus_per_instance(instance) == gpus


def test_more_gpus_than_any_host_has_is_refused(edited_project: Callable[..., Path]) -> None:
    root = edited_project(lambda c: c["mlinfra:services"]["search-ranker"].update({"gpuCount": 4}))
    with pytest.raises(SpecError) as caught:
        load(root)
    (problem,) = caught.value.problems
    assert (problem.file, problem.field, problem.value) == (
        "stacks/Pulumi.dev.yaml",
        "mlinfra:services.search-ranker.gpuCount",
        4,
    )
    assert "has 1 GPU(s) per instance; allowed: 1-1" in problem.allowed


def test_the_dev_stack_loads() -> None:
    deployment = load(ROOT)
    assert deployment.settings.platform == "ecs"
    assert [s.name for s in deployment.services] == ["fraud-detector", "search-ranker"]
    assert deployment.settings.ecs.gpu_capacity["gpu-a10g"].instance_types == ("g5.xlarge", "g5.2xlarge")


def test_missing_test_tool_skips_locally_but_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import need_tool

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"needs moto\[server\]"):
        need_tool(False, "moto[server]")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        need_tool(False, "moto[server]")
    need_tool(True, "moto[server]")  # present: neither
