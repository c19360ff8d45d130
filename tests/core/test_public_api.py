"""The public API is pinned: a change here is a deliberate, reviewed decision."""

from __future__ import annotations

import types

import pytest

import mlinfra
import mlinfra.aws
from mlinfra.engine.runner import OfflineRun


@pytest.mark.parametrize("module", [mlinfra, mlinfra.aws])
def test_every_public_name_is_exported(module: types.ModuleType) -> None:
    # httpx's guard: `__all__` is sorted and lists every public name the module defines, so
    # nothing leaks out unlisted and nothing listed is missing.
    public = sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    )
    assert module.__all__ == public


def test_public_names() -> None:
    assert mlinfra.__all__ == ["ComponentError", "MlinfraError", "ModelService", "Problem", "ServiceSpec", "SpecError"]
    assert mlinfra.__file__ is not None
    from pathlib import Path

    assert (Path(mlinfra.__file__).parent / "py.typed").is_file()


def test_component_type_tokens_and_logical_names(staging: OfflineRun) -> None:
    tokens = {(r.type, r.name) for r in staging.resources if r.type.startswith("mlinfra:index:")}
    assert tokens == {
        ("mlinfra:index:EksPlatform", "platform"),
        ("mlinfra:index:Network", "platform-network"),
        ("mlinfra:index:VpcEndpoints", "platform-endpoints"),  # added; no existing name changed
        ("mlinfra:index:EksCluster", "platform-eks"),
        ("mlinfra:index:ClusterAddons", "platform-addons"),
        ("mlinfra:index:AccessLogsBucket", "platform-alb-logs"),
        ("mlinfra:index:Karpenter", "platform-karpenter"),  # added (nodes)
        ("mlinfra:index:KarpenterNodePools", "platform-pools"),
        ("mlinfra:index:ServiceImage", "fraud-detector"),
        ("mlinfra:index:ServiceImage", "search-ranker"),
        ("mlinfra:index:KubernetesModelService", "fraud-detector"),
        ("mlinfra:index:KubernetesModelService", "search-ranker"),
        ("mlinfra:index:EksMonitoring", "monitoring"),
    }


def test_model_service_outside_mlinfras_program_is_an_error() -> None:
    with pytest.raises(
        mlinfra.ComponentError,
        match=r"ModelService\('fraud'\) was called outside mlinfra's "
        r"program.*mlinfra\.aws",
    ):
        mlinfra.ModelService("fraud", model_uri="s3://models/fraud/model.skops")
