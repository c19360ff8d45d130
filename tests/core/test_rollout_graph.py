"""Cost and policy find a Deployment's autoscaler through the Argo Rollout that releases it:
under canary delivery the HPA scales the Rollout, not the Deployment."""

from __future__ import annotations

from typing import Any

from mlinfra.engine.graph import HPA, ROLLOUT, ResourceGraph
from mlinfra.engine.pricers.kubernetes import replica_range
from mlinfra.policy.rules.production import _ha


def resource(type_token: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "urn": f"urn:{type_token}:{name}",
        "type": type_token,
        "name": name,
        "inputs": {"metadata": {"name": "fraud", "namespace": "mlinfra-fraud"}, "spec": spec},
    }


DEPLOYMENT = resource("kubernetes:apps/v1:Deployment", "fraud-deployment", {"template": {}})
ROLLOUT_RES = resource(
    ROLLOUT, "fraud-rollout", {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud"}}
)


def hpa(kind: str) -> dict[str, Any]:
    return resource(
        HPA,
        "fraud-hpa",
        {"scaleTargetRef": {"apiVersion": "x", "kind": kind, "name": "fraud"}, "minReplicas": 3, "maxReplicas": 12},
    )


def test_the_hpa_of_a_rollout_scales_its_deployment() -> None:
    g = ResourceGraph([DEPLOYMENT, ROLLOUT_RES, hpa("Rollout")], production=True)
    assert g.autoscaler_of(DEPLOYMENT) is not None
    assert replica_range(DEPLOYMENT, g) == (3, 12)
    assert _ha(DEPLOYMENT, g) == []


def test_without_the_rollout_a_rollout_target_scales_nothing() -> None:
    g = ResourceGraph([DEPLOYMENT, hpa("Rollout")], production=True)
    assert g.autoscaler_of(DEPLOYMENT) is None
    assert replica_range(DEPLOYMENT, g) == (1, 1)
    assert _ha(DEPLOYMENT, g) == ["replicas 1 < 2 in prod"]


def test_a_deployment_target_still_counts() -> None:
    g = ResourceGraph([DEPLOYMENT, hpa("Deployment")], production=True)
    assert replica_range(DEPLOYMENT, g) == (3, 12)


def test_a_fixed_count_lives_on_the_rollout() -> None:
    rollout = resource(ROLLOUT, "fraud-rollout", {**ROLLOUT_RES["inputs"]["spec"], "replicas": 3})
    g = ResourceGraph([DEPLOYMENT, rollout], production=True)
    assert replica_range(DEPLOYMENT, g) == (3, 3)
    assert _ha(DEPLOYMENT, g) == []
