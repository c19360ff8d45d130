"""Pricers of Kubernetes objects on EKS: ALBs the load balancer controller creates per ingress group,
and a Deployment's allocated share of the nodes it runs on."""

from __future__ import annotations

from typing import Any

from mlinfra.engine.graph import ResourceGraph as Graph
from mlinfra.engine.pricing import Line, PriceTable, hourly, pricer
from mlinfra.spec.quantities import parse_cpu_millicores, parse_memory_mib

_ALB_GROUP = "alb.ingress.kubernetes.io/group.name"


@pricer("kubernetes:networking.k8s.io/v1:Ingress")
def _ingress(res: dict[str, Any], p: PriceTable, g: Graph) -> Line | None:
    # The AWS Load Balancer Controller turns each ingress group into one ALB, created outside
    # Pulumi; its cost is split evenly over the ingresses that share it.
    group = _ingress_group(res)
    if group is None:
        return None
    members = [r for r in g.of_type(res["type"]) if _ingress_group(r) == group]
    m = hourly(p.rates["alb_hourly"] + p.assumptions["alb_lcus"] * p.rates["lcu_hourly"], p) / len(members)
    return Line(m, m, f"1/{len(members)} of ALB `{group}` (created by the load balancer controller)")


def _ingress_group(res: dict[str, Any]) -> str | None:
    inputs = res["inputs"]
    if (inputs.get("spec") or {}).get("ingressClassName") != "alb":
        return None
    meta = inputs.get("metadata") or {}
    return str((meta.get("annotations") or {}).get(_ALB_GROUP) or f"{meta.get('namespace')}/{meta.get('name')}")


# What scales a Deployment: KEDA's ScaledObject (mlinfra's own) or a plain HPA, with the
# names each gives its bounds.
_SCALERS = {
    "kubernetes:keda.sh/v1alpha1:ScaledObject": ("minReplicaCount", "maxReplicaCount"),
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": ("minReplicas", "maxReplicas"),
}


def replica_range(deployment: dict[str, Any], g: Graph) -> tuple[int, int]:
    """(min, max) replicas: from the scaler that targets the Deployment, else its static count."""
    scaler = g.autoscaler_of(deployment)
    if scaler is not None:
        low_key, high_key = _SCALERS[scaler["type"]]
        sspec = scaler["inputs"].get("spec") or {}
        # KEDA's minReplicaCount defaults to 0, an HPA's minReplicas to 1.
        low_default = 0 if low_key == "minReplicaCount" else 1
        return int(sspec.get(low_key, low_default)), int(sspec.get(high_key, 100))
    n = g.fixed_replicas(deployment)
    return n, n


@pricer("kubernetes:apps/v1:Deployment")
def _deployment(res: dict[str, Any], p: PriceTable, g: Graph) -> Line | str | None:
    pod = (((res["inputs"].get("spec") or {}).get("template") or {}).get("spec")) or {}
    limits = {"cpu": 0.0, "mem": 0.0, "gpu": 0.0}
    for c in pod.get("containers") or []:
        req = {**((c.get("resources") or {}).get("requests") or {}), **((c.get("resources") or {}).get("limits") or {})}
        try:
            limits["cpu"] += parse_cpu_millicores(req["cpu"]) / 1000 if "cpu" in req else 0
            limits["mem"] += parse_memory_mib(req["memory"]) / 1024 if "memory" in req else 0
        except ValueError:
            return "container resources are not valid quantities"
        limits["gpu"] += float(req.get("nvidia.com/gpu", 0))
    group = _node_group_for(pod, g)
    if group is None:
        return None  # no EKS node group in the plan (e.g. nodes managed elsewhere)
    itype = (group["inputs"].get("instanceTypes") or ["?"])[0]
    spec = p.ec2(itype)
    if spec is None or not spec.get("vcpu"):
        return f"no price or size for instance type {itype} in {p.region}"
    # A pod costs the largest fraction of a node it takes, in whichever resource binds first.
    share = max(
        limits["cpu"] / spec["vcpu"],
        limits["mem"] / spec["memory_gib"],
        limits["gpu"] / spec["gpus"] if spec["gpus"] else 0.0,
    )
    low, high = replica_range(res, g)
    per = hourly(spec["hourly"], p) * share
    basis = f"{low}\u2013{high} replicas \u00d7 {share:.2f} of a {itype} node"
    return Line(per * low, per * high, basis, allocated=True)


def _node_group_for(pod: dict[str, Any], g: Graph) -> dict[str, Any] | None:
    selector = pod.get("nodeSelector") or {}
    groups = sorted(g.of_type("aws:eks/nodeGroup:NodeGroup"), key=lambda r: r["urn"])
    for group in groups:
        labels = group["inputs"].get("labels") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            return group
    tainted = {id(r) for r in groups if r["inputs"].get("taints")}
    return next((r for r in groups if id(r) not in tainted), None)
