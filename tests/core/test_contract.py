"""One runtime contract: what both platforms, the image and `mlinfra serve` hand the runtime is
exactly what the runtime's own settings accept."""

from __future__ import annotations

import json
import os
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlinfra.components.contract import runtime_env
from mlinfra.engine.runner import run_offline
from mlinfra.image.context import write_build_context
from mlinfra.serving import contract
from mlinfra.serving.settings import ServingSettings
from mlinfra.spec.service import Framework, ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
FIELDS = set(ServingSettings.model_fields)


def _is_secret_delivery(name: str) -> bool:
    # A service's own secrets are for the team's code, not runtime settings.
    return name.startswith(contract.SECRET_ENV_PREFIX) and name != contract.API_KEYS_ENV


def _accepted(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ServingSettings:
    """The runtime's settings built from exactly `env`, as the process would see it."""
    unknown = sorted(
        n
        for n in env
        if n.startswith(contract.ENV_PREFIX) and not _is_secret_delivery(n) and contract.settings_field(n) not in FIELDS
    )
    assert unknown == [], f"MLINFRA_* names the runtime does not read: {unknown}"
    for name in [n for n in os.environ if n.startswith(contract.ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return ServingSettings()


def test_every_contract_name_is_a_settings_field() -> None:
    assert {contract.settings_field(n) for n in contract.SETTINGS_ENV} <= FIELDS
    assert "require_api_key" in FIELDS


def test_frameworks_and_extensions_are_one_table() -> None:
    assert typing.get_args(Framework) == contract.FRAMEWORKS
    assert set(contract.EXTENSIONS.values()) == set(contract.FRAMEWORKS)


@pytest.mark.parametrize("ext", sorted(contract.EXTENSIONS))
def test_sdk_accepts_exactly_the_runtime_extensions(ext: str) -> None:
    spec = ServiceSpec(name="m", model_uri=f"s3://bucket/models/model{ext}", trusted_pickle=True)
    assert spec.framework == contract.EXTENSIONS[ext]
    assert [p for p in spec.cross_field_problems() if p[0] == "framework"] == []


def test_sdk_refuses_what_the_runtime_cannot_infer() -> None:
    spec = ServiceSpec(name="m", model_uri="s3://bucket/models/model.bin")
    assert spec.framework is None
    assert [p[0] for p in spec.cross_field_problems()] == ["framework"]


def _pod_env(resource_inputs: dict[str, typing.Any]) -> dict[str, str]:
    container = resource_inputs["spec"]["template"]["spec"]["containers"][0]
    # A valueFrom (secretKeyRef) entry's value exists only in the cluster: stand in for it.
    return {e["name"]: e.get("value", "key-1") for e in container["env"]}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_eks_deployment_env_is_accepted_by_the_runtime(stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run = run_offline(ROOT, stack)
    deployments = [
        r
        for r in run.resources
        if r.type == "kubernetes:apps/v1:Deployment"
        and r.parent.endswith("KubernetesModelService::" + r.name.removesuffix("-deployment"))
    ]
    assert len(deployments) == len(run.deployment.services)
    for res in deployments:
        settings = _accepted(_pod_env(res.inputs), monkeypatch)
        spec = next(s for s in run.deployment.services if f"{s.name}-deployment" == res.name)
        assert (settings.model_uri, settings.model_name, settings.port) == (spec.model_uri, spec.name, spec.port)
        assert settings.keepalive_timeout_s == 60 + contract.KEEPALIVE_MARGIN_S


def test_ecs_container_env_is_accepted_by_the_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    run = run_offline(ROOT, "dev")
    tasks = [r for r in run.resources if r.type == "aws:ecs/taskDefinition:TaskDefinition"]
    assert len(tasks) == len(run.deployment.services)
    idle = run.deployment.settings.ecs.alb.idle_timeout_seconds
    for res in tasks:
        definitions = res.inputs["containerDefinitions"]
        model = next(
            c
            for c in (json.loads(definitions) if isinstance(definitions, str) else definitions)
            if c["name"] == "model"
        )
        env = {e["name"]: e["value"] for e in model["environment"]}
        # Secrets Manager values arrive as variables too; their names are part of the contract.
        env.update({s["name"]: "secret-value" for s in model.get("secrets", [])})
        settings = _accepted(env, monkeypatch)
        assert settings.keepalive_timeout_s == idle + contract.KEEPALIVE_MARGIN_S


def test_api_key_auth_requires_keys_on_every_path(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ServiceSpec(
        name="fraud", model_uri="s3://models/m/model.skops", public=True, auth="api_key", secrets=["api-keys"]
    )
    env = runtime_env(spec, alb_idle_timeout_s=60)
    assert env[contract.REQUIRE_API_KEY_ENV] == "true"
    # The platform delivers the keys from the `api-keys` secret; without them the runtime fails closed.
    assert _accepted({**env, contract.API_KEYS_ENV: "k-1"}, monkeypatch).require_api_key is True
    with pytest.raises(ValidationError, match="refusing to start without authentication"):
        _accepted(env, monkeypatch)
    open_spec = ServiceSpec(name="fraud", model_uri="s3://models/m/model.skops")
    assert contract.REQUIRE_API_KEY_ENV not in runtime_env(open_spec, alb_idle_timeout_s=60)


def test_image_env_is_accepted_by_the_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dockerfile = write_build_context(
        tmp_path / "ctx",
        service="fraud",
        model_uri="s3://b/m/model.skops",
        framework="sklearn",
        gpu=False,
        model_sha256="a" * 64,
    )
    env: dict[str, str] = {}
    for line in dockerfile.read_text().split("ENV ", 1)[1].split("\nCOPY", 1)[0].splitlines():
        name, _, value = line.strip().rstrip("\\").strip().partition("=")
        env[name] = value.strip('"')
    runtime = {k: v for k, v in env.items() if k.startswith(contract.ENV_PREFIX)}
    assert set(runtime) == {
        contract.MODEL_URI_ENV,
        contract.MODEL_NAME_ENV,
        contract.FRAMEWORK_ENV,
        contract.PORT_ENV,
        contract.MODEL_SHA256_ENV,
    }
    settings = _accepted(runtime, monkeypatch)
    assert (settings.model_uri, settings.framework, settings.model_sha256) == (
        "s3://b/m/model.skops",
        "sklearn",
        "a" * 64,
    )
