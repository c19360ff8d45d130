"""The `rollout=` field: validated with file, field, value and what is allowed; its default
follows the stack's tier (rolling on dev) and platform (ECS's canary has one step)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlinfra.spec.rollout import ECS_DEFAULT_STEPS, Rollout, effective_rollout
from mlinfra.spec.service import ServiceSpec
from tests.core.conftest import STACK_HEADER
from tests.core.test_spec import _load, _problems

ROOT = Path(__file__).resolve().parents[2]
SERVICE = 'ModelService("a", model_uri="s3://bkt/x/m.onnx"{})\n'
ECS_STACK = STACK_HEADER.replace("  mlinfra:eks:\n", "  mlinfra:platform: ecs\n  mlinfra:eks:\n")


@pytest.mark.parametrize(
    ("rollout", "needle"),
    [
        ('{"strategy": "blue-green"}', "rollout.strategy = 'blue-green': Input should be 'rolling' or 'canary'"),
        ('{"steps": [50, 10, 100]}', "rollout.steps = [50, 10, 100]: must be strictly increasing"),
        ('{"steps": [10, 50]}', "ending at 100"),
        ('{"steps": [0, 100]}', "rollout.steps.0 = 0: Input should be greater than or equal to 1"),
        ('{"bake_minutes": 2000}', "rollout.bake_minutes = 2000: Input should be less than or equal to 1440"),
        ('{"max_error_ratio": 5}', "rollout.max_error_ratio = 5: Input should be less than 1"),
        ('{"bake": 5}', "rollout.bake = 5: unknown field; allowed fields: bake_minutes, max_error_ratio"),
    ],
)
def test_bad_rollout_names_file_field_value_and_allowed(project, rollout: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    text = "\n".join(_problems(project, SERVICE.format(f", rollout={rollout}")))
    assert "services/svc.py:2: ModelService('a')." in text
    assert needle in text, text


def test_default_is_canary_on_staging_and_rolling_on_dev(project) -> None:  # type: ignore[no-untyped-def]
    (staging,) = _load(project, SERVICE.format("")).services
    assert staging.delivery == Rollout()
    assert staging.delivery.steps == (10, 50, 100)
    (dev,) = _load(project, SERVICE.format(""), STACK_HEADER.replace("tier: staging", "tier: dev")).services
    assert dev.delivery.strategy == "rolling"


def test_ecs_default_is_the_one_step_canary_ecs_has(project) -> None:  # type: ignore[no-untyped-def]
    (spec,) = _load(project, SERVICE.format(""), ECS_STACK).services
    assert spec.delivery.steps == ECS_DEFAULT_STEPS


def test_ecs_refuses_steps_it_cannot_take(project) -> None:  # type: ignore[no-untyped-def]
    text = "\n".join(_problems(project, SERVICE.format(', rollout={"steps": [10, 50, 100]}'), ECS_STACK))
    assert "ModelService('a').rollout.steps = [10, 50, 100]: on ECS: one canary step then 100" in text


def test_a_stack_override_sets_the_rollout(project) -> None:  # type: ignore[no-untyped-def]
    stack = STACK_HEADER + "  mlinfra:services:\n    a:\n      rollout: {strategy: canary, bakeMinutes: 15}\n"
    (spec,) = _load(project, SERVICE.format(""), stack).services
    assert (spec.delivery.bake_minutes, spec.delivery.total_minutes) == (15, 30)


def test_spec_outside_a_stack_rolls_unless_it_asks() -> None:
    """A program of its own (examples/existing-cluster) may have no Argo Rollouts installed."""
    assert ServiceSpec(name="a", model_uri="s3://bkt/x/m.onnx").delivery.strategy == "rolling"
    assert ServiceSpec(name="a", model_uri="s3://bkt/x/m.onnx", rollout={}).delivery == Rollout()
    assert effective_rollout(None, "prod", "eks") == Rollout()
    assert effective_rollout(Rollout(strategy="rolling"), "prod", "eks").strategy == "rolling"
    with pytest.raises(ValidationError):
        Rollout(steps=())


def test_plan_exits_2_with_one_message_and_no_traceback(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_bytes((ROOT / name).read_bytes())
    (root / "services").mkdir()
    (root / "services" / "a.py").write_text(
        "from mlinfra import ModelService\n" + SERVICE.format(', rollout={"steps": [10, 50]}')
    )
    (root / "stacks").mkdir()
    (root / "stacks" / "Pulumi.s.yaml").write_text(STACK_HEADER)
    proc = subprocess.run(
        [sys.executable, "-m", "mlinfra", "plan", "--stack", "s"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "services/a.py:2: ModelService('a').rollout.steps = [10, 50]: must be strictly increasing" in proc.stderr
