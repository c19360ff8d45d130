"""Which service a resource belongs to comes from the component tree, never from names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlinfra.engine.graph import PLATFORM_GROUP, ResourceGraph
from mlinfra.engine.plan import plan_document
from mlinfra.engine.runner import run_offline

from .conftest import STACK_HEADER

SERVICE = 'from mlinfra import ModelService\nModelService("platform", model_uri="s3://models-1/p/model.onnx")\n'


def test_a_service_named_platform_keeps_platform_cost_apart(project: Callable[..., Path]) -> None:
    doc = plan_document(run_offline(project(services={"platform.py": SERVICE}, stacks={"s": STACK_HEADER}), "s"))
    owners = {r["name"]: r["service"] for r in doc["resources"]}
    assert owners["platform-eks"] == PLATFORM_GROUP
    assert owners["platform-network"] == PLATFORM_GROUP
    assert owners["platform-deployment"] == "platform"
    services = doc["cost"]["services"]
    assert set(services) == {PLATFORM_GROUP, "platform"}
    # The cluster, nodes and NAT gateways are the platform's; the service carries only its share.
    assert services[PLATFORM_GROUP]["min"] > services["platform"]["min"]
    platform_lines = {line["type"] for line in doc["cost"]["resources"] if line["service"] == PLATFORM_GROUP}
    assert "aws:eks/cluster:Cluster" in platform_lines


def test_ownership_follows_parents_not_names() -> None:
    u = "urn:pulumi:s::p::"
    graph = ResourceGraph(
        [
            {
                "urn": u + "mlinfra:index:EksPlatform::fraud",
                "type": "mlinfra:index:EksPlatform",
                "name": "fraud",
                "parent": "",
            },
            {
                "urn": u + "aws:kms/key:Key::fraud-key",
                "type": "aws:kms/key:Key",
                "name": "fraud-key",
                "parent": u + "mlinfra:index:EksPlatform::fraud",
            },
            {
                "urn": u + "mlinfra:index:EcsModelService::svc",
                "type": "mlinfra:index:EcsModelService",
                "name": "svc",
                "parent": "",
            },
            {
                "urn": u + "aws:ecs/service:Service::x",
                "type": "aws:ecs/service:Service",
                "name": "x",
                "parent": u + "mlinfra:index:EcsModelService::svc",
            },
        ]
    )
    assert [graph.service_of(r) for r in graph.resources] == [PLATFORM_GROUP, PLATFORM_GROUP, "svc", "svc"]
