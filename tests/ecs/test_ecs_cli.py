"""`mlinfra plan` on ECS stacks, as a user runs it: a separate process, exit codes, stdout/stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import ROOT
from .test_ecs_plan import ACCEPTANCE_TYPES


def plan(root: Path, stack: str = "dev", fmt: str = "json") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mlinfra", "plan", "--stack", stack, "--format", fmt, "--project-dir", str(root)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )


def test_plan_json_is_offline_deterministic_and_complete() -> None:
    first, second = plan(ROOT), plan(ROOT)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout  # byte-identical
    doc = json.loads(first.stdout)
    assert (doc["project"], doc["stack"]) == ("mlinfra", "dev")
    types = {r["type"] for r in doc["resources"]}
    assert [t for t in ACCEPTANCE_TYPES if t not in types] == []
    services = [r for r in doc["resources"] if r["type"] == "aws:ecs/service:Service"]
    assert all(s["inputs"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True} for s in services)
    listeners = [r["inputs"] for r in doc["resources"] if r["type"] == "aws:lb/listener:Listener"]
    assert {(li["protocol"], li["port"]) for li in listeners} == {("HTTPS", 443), ("HTTP", 80)}
    assert "[secret]" in first.stdout  # the secret's value is masked...
    assert "offline-ecr-token" not in first.stdout  # ...and so is every other secret


def _bad_input(config: dict[str, Any]) -> None:
    config["mlinfra:ecs"].pop("gpuCapacity")
    config["mlinfra:services"]["fraud-detector"].update({"cpu": 2, "memory": "3Gi", "port": 8888, "secrets": ["nope"]})


def test_bad_input_exits_2_with_every_problem_and_no_traceback(edited_project: Callable[..., Path]) -> None:
    root = edited_project(_bad_input)
    result = plan(root)
    assert result.returncode == 2
    assert result.stdout == ""  # nothing half-planned
    assert "Traceback" not in result.stderr
    err = " ".join(result.stderr.split())  # rich may wrap long lines
    assert "4 problems in the mlinfra input" in err
    assert "services/ranker.py:5: ModelService('search-ranker').gpu = 'a10g': Fargate cannot run GPU tasks" in err
    assert "(mlinfra:ecs.gpuCapacity): none configured" in err
    # The sizes, port and secrets come from the stack's overrides, so the stack file is named.
    assert (
        "stacks/Pulumi.dev.yaml: mlinfra:services.fraud-detector.cpu/memory = 'cpu=2000m memory=3072Mi': "
        "Fargate does not offer "
        "3072 MiB with 2 vCPU; allowed memory: 4096Mi-16384Mi in steps of 1024Mi"
    ) in err
    assert "mlinfra:services.fraud-detector.port = 8888: taken by the ADOT collector sidecar" in err
    assert "mlinfra:services.fraud-detector.secrets = 'nope': not defined in stacks/Pulumi.dev.yaml" in err


def test_bad_ecs_setting_names_the_field_and_allowed_values(edited_project: Callable[..., Path]) -> None:
    root = edited_project(lambda c: c["mlinfra:ecs"].update({"containerInsights": "disabled"}))
    result = plan(root, fmt="table")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    err = " ".join(result.stderr.split())
    assert "stacks/Pulumi.dev.yaml: mlinfra:ecs.containerInsights = 'disabled'" in err
    assert "'enabled' or 'enhanced'" in err


def _unpinned(config: dict[str, Any]) -> None:
    config["mlinfra:ecs"].pop("gpuAmiId")
    config["mlinfra:services"]["search-ranker"]["bakeModel"] = True  # remote model, no model_sha256


def test_unpinned_gpu_ami_and_unpinned_baked_model_exit_2(edited_project: Callable[..., Path]) -> None:
    result = plan(edited_project(_unpinned))
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    err = " ".join(result.stderr.split())
    assert "2 problems in the mlinfra input" in err
    assert "stacks/Pulumi.dev.yaml: mlinfra:ecs.gpuAmiId = (missing): GPU capacity needs its AMI pinned" in err
    assert (
        "aws ssm get-parameters --region us-east-1 --names "
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
    ) in err
    assert (
        "services/ranker.py:5: ModelService('search-ranker').model_sha256 = None: bake_model=True with a "
        "remote model_uri needs the model's sha256"
    ) in err


def test_bad_kms_key_arn_names_the_field(edited_project: Callable[..., Path]) -> None:
    root = edited_project(lambda c: c["mlinfra:ecs"].update({"secretsKmsKeyArns": ["alias/secrets"]}))
    result = plan(root)
    assert result.returncode == 2
    err = " ".join(result.stderr.split())
    assert "mlinfra:ecs.secretsKmsKeyArns = ['alias/secrets']: not KMS key ARNs: ['alias/secrets']" in err
