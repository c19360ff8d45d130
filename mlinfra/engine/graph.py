"""The one resource graph cost and policy share: lookups by type, dependency and ownership.

Built from wire-form resource dicts (`urn`, `type`, `name`, `parent`, `inputs`,
`dependencies`), which both the offline plan and CrossGuard's resources are turned into, so a
rule or a pricer sees the same graph offline and online. No Pulumi import here.

Ownership comes from the component tree: a resource belongs to the service whose per-service
component (`SERVICE_COMPONENTS`) is the resource itself or its nearest such ancestor, and to
the platform otherwise. Names never decide it, so a service named `platform` is still a service.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Resource = dict[str, Any]

TOKEN_PREFIX = "mlinfra:index:"
"""Type tokens of mlinfra's components (they group resources; the cloud never sees them)."""
SERVICE_COMPONENTS = frozenset(
    {
        f"{TOKEN_PREFIX}KubernetesModelService",
        f"{TOKEN_PREFIX}EcsModelService",
        f"{TOKEN_PREFIX}ServiceImage",
    }
)
"""Components declared once per service, named after it."""
PLATFORM_GROUP = "(platform)"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
"""The owner of everything no per-service component contains."""


def is_component(res: Resource) -> bool:
    return str(res.get("type", "")).startswith(TOKEN_PREFIX)


class ResourceGraph:
    """A stack's resources, indexed by URN and by type."""

    def __init__(self, resources: Iterable[Resource], *, production: bool = False) -> None:
        self.resources = list(resources)
        self.production = production
        self.by_urn = {r["urn"]: r for r in self.resources}
        self._by_type: dict[str, list[Resource]] = {}
        for r in self.resources:
            self._by_type.setdefault(r["type"], []).append(r)
        self._owner: dict[str, str] = {}

    def of_type(self, *types: str) -> list[Resource]:
        return [r for t in types for r in self._by_type.get(t, [])]

    def deps(self, res: Resource, *types: str) -> list[Resource]:
        """Resources `res` depends on, of any of `types`."""
        found = (self.by_urn.get(u) for u in res.get("dependencies") or [])
        return [r for r in found if r is not None and r["type"] in types]

    def dependents(self, res: Resource, *types: str) -> list[Resource]:
        """Resources of any of `types` that depend on `res`."""
        return [r for r in self.of_type(*types) if res["urn"] in (r.get("dependencies") or [])]

    def rollout_of(self, deployment: Resource) -> Resource | None:
        """The Argo Rollout that releases a Deployment's pod template (`workloadRef`), if any."""
        meta = (deployment.get("inputs") or {}).get("metadata") or {}
        for rollout in self.of_type(ROLLOUT):
            r_in = rollout.get("inputs") or {}
            ref = (r_in.get("spec") or {}).get("workloadRef") or {}
            same_ns = (r_in.get("metadata") or {}).get("namespace") == meta.get("namespace")
            if same_ns and ref.get("kind") == "Deployment" and ref.get("name") == meta.get("name"):
                return rollout
        return None

    def fixed_replicas(self, deployment: Resource) -> int:
        """A Deployment's fixed count: its own, or its Rollout's, which then owns the pods."""
        rollout = self.rollout_of(deployment)
        owner = rollout if rollout is not None else deployment
        return int(((owner.get("inputs") or {}).get("spec") or {}).get("replicas", 1))

    def autoscaler_of(self, deployment: Resource) -> Resource | None:
        """The ScaledObject or HPA that scales a Deployment's pods: one targeting it, or
        targeting the Argo Rollout that releases it (`workloadRef`), which then owns the count."""
        meta = (deployment.get("inputs") or {}).get("metadata") or {}
        namespace, name = meta.get("namespace"), meta.get("name")
        targets = {("Deployment", name)}
        rollout = self.rollout_of(deployment)
        if rollout is not None:
            targets.add(("Rollout", ((rollout.get("inputs") or {}).get("metadata") or {}).get("name")))
        for scaler in self.of_type(SCALED_OBJECT, HPA):
            s_in = scaler.get("inputs") or {}
            target = (s_in.get("spec") or {}).get("scaleTargetRef") or {}
            if (s_in.get("metadata") or {}).get("namespace") == namespace and (
                (target.get("kind"), target.get("name")) in targets
            ):
                return scaler
        return None

    def service_of(self, res: Resource) -> str:
        """The service owning `res` (its per-service component's name), else `PLATFORM_GROUP`."""
        urn = res["urn"]
        if urn not in self._owner:
            owner, seen = PLATFORM_GROUP, set()
            current: Resource | None = res
            while current is not None and current["urn"] not in seen:
                seen.add(current["urn"])
                if current.get("type") in SERVICE_COMPONENTS:
                    owner = str(current["name"])
                    break
                current = self.by_urn.get(current.get("parent") or "")
            self._owner[urn] = owner
        return self._owner[urn]
