"""The public API is pinned: a change here is a deliberate, reviewed decision."""

from __future__ import annotations

import mlinfra
from mlinfra.engine.runner import OfflineRun


def test_public_names() -> None:
    assert mlinfra.__all__ == ["MlinfraError", "ModelService", "SpecError"]
    assert (mlinfra.__file__ is not None)
    from pathlib import Path

    assert (Path(mlinfra.__file__).parent / "py.typed").is_file()


def test_component_type_tokens_and_logical_names(staging: OfflineRun) -> None:
    tokens = {(r.type, r.name) for r in staging.resources if r.type.startswith("mlinfra:index:")}
    assert tokens == {
        ("mlinfra:index:EksPlatform", "platform"),
        ("mlinfra:index:Network", "platform-network"),
        ("mlinfra:index:EksCluster", "platform-eks"),
        ("mlinfra:index:ClusterAddons", "platform-addons"),
        ("mlinfra:index:AccessLogsBucket", "platform-alb-logs"),
        ("mlinfra:index:ServiceImage", "fraud-detector"),
        ("mlinfra:index:ServiceImage", "search-ranker"),
        ("mlinfra:index:KubernetesModelService", "fraud-detector"),
        ("mlinfra:index:KubernetesModelService", "search-ranker"),
        ("mlinfra:index:EksMonitoring", "monitoring"),
    }
