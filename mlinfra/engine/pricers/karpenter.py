"""Pricers of Karpenter node pools: a pool costs the nodes its services need, from their minimum
replicas to their maximum, packed as the schedulability proof packs them
(`mlinfra.spec.schedulability`). A pool whose services may all be at zero costs nothing then."""

from __future__ import annotations

from typing import Any

from mlinfra.engine.graph import ResourceGraph as Graph
from mlinfra.engine.pricers.kubernetes import replica_range
from mlinfra.engine.pricing import Line, PriceTable, hourly, pricer
from mlinfra.spec.quantities import parse_cpu_millicores, parse_memory_mib
from mlinfra.spec.schedulability import NodeShape, Packing, Pod, node_shape, pack

NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODEPOOL_LABEL = "karpenter.sh/nodepool"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
CAPACITY_TYPE = "karpenter.sh/capacity-type"


def pod_spec_of(deployment: dict[str, Any]) -> dict[str, Any]:
    return (((deployment["inputs"].get("spec") or {}).get("template") or {}).get("spec")) or {}


def pod_requests(pod: dict[str, Any]) -> Pod:
    """The pod's summed container requests (ValueError when a quantity is not valid)."""
    cpu = memory = gpus = 0
    for c in pod.get("containers") or []:
        req = (c.get("resources") or {}).get("requests") or {}
        cpu += parse_cpu_millicores(req["cpu"]) if "cpu" in req else 0
        memory += parse_memory_mib(req["memory"]) if "memory" in req else 0
        gpus += int(float(req.get("nvidia.com/gpu", 0)))
    return Pod(cpu, memory, gpus)


def _requirement(pool: dict[str, Any], key: str) -> list[str]:
    spec = ((pool["inputs"].get("spec") or {}).get("template") or {}).get("spec") or {}
    for req in spec.get("requirements") or []:
        if req.get("key") == key and req.get("operator") == "In":
            return [str(v) for v in req.get("values") or []]
    return []


def pool_named(name: str, g: Graph) -> dict[str, Any] | None:
    return next((r for r in g.of_type(NODEPOOL) if (r["inputs"].get("metadata") or {}).get("name") == name), None)


def _spot_only(pool: dict[str, Any]) -> bool:
    return _requirement(pool, CAPACITY_TYPE) == ["spot"]


def spot_pool_types(resources: list[dict[str, Any]]) -> list[str]:
    """The instance types of the spot-only NodePools among `resources` (the only ones priced at
    spot, so the only ones `--live-prices` asks EC2 about)."""
    return sorted(
        {t for r in resources if r["type"] == NODEPOOL and _spot_only(r) for t in _requirement(r, INSTANCE_TYPE)}
    )


def pool_shapes(pool: dict[str, Any], p: PriceTable) -> list[NodeShape]:
    """The pool's instance types with a price: the spot rate for a spot pool when one is known
    (`--live-prices`), else on-demand."""
    spot = _spot_only(pool)
    shapes = []
    for itype in _requirement(pool, INSTANCE_TYPE):
        price = p.ec2(itype)
        if price is not None and "hourly" in price:
            rate = price.get("spot_hourly", price["hourly"]) if spot else price["hourly"]
            shapes.append(node_shape(itype, float(rate)))
    return shapes


def _spot_note(pool: dict[str, Any], p: PriceTable) -> str:
    """What rate each of a spot pool's types was priced at, in words."""
    if not _spot_only(pool):
        return ""
    types = _requirement(pool, INSTANCE_TYPE)
    spot = [t for t in types if "spot_hourly" in (p.ec2(t) or {})]
    if not spot:
        return "; spot priced at on-demand (no spot price known: plan with --live-prices): an upper bound"
    note = "; spot priced at the highest zone's current spot price (EC2 spot price history, a snapshot)"
    rest = [t for t in types if t not in spot]
    if rest:
        note += f" for {', '.join(spot)}; {', '.join(rest)} at on-demand (no spot offer found)"
    return note


def placement_of(deployment: dict[str, Any], p: PriceTable, g: Graph) -> Packing | str | None:
    """The Deployment's packing on its Karpenter pool at its maximum replicas (None: not on one)."""
    name = (pod_spec_of(deployment).get("nodeSelector") or {}).get(NODEPOOL_LABEL)
    pool = pool_named(str(name), g) if name else None
    if pool is None:
        return None
    try:
        pod = pod_requests(pod_spec_of(deployment))
    except ValueError:
        return "container resources are not valid quantities"
    shapes = pool_shapes(pool, p)
    packing = pack(pod, replica_range(deployment, g)[1], shapes)
    if packing is None:
        return f"no instance type of node pool {name} with a price in {p.region} holds one pod"
    return packing


def _disk_gib(pool: dict[str, Any], g: Graph) -> float:
    spec = ((pool["inputs"].get("spec") or {}).get("template") or {}).get("spec") or {}
    ref = (spec.get("nodeClassRef") or {}).get("name")
    for node_class in g.of_type(NODECLASS):
        if (node_class["inputs"].get("metadata") or {}).get("name") == ref:
            mappings = (node_class["inputs"].get("spec") or {}).get("blockDeviceMappings") or []
            return sum(float(str((m.get("ebs") or {}).get("volumeSize", "0")).removesuffix("Gi")) for m in mappings)
    return 0.0


def _nodes(k: Packing) -> str:
    return f"{k.nodes} \u00d7 {k.shape.instance_type} ({k.per_node} pod(s) each, ${k.shape.hourly}/h)"


@pricer(NODEPOOL)
def _node_pool(res: dict[str, Any], p: PriceTable, g: Graph) -> Line | str:
    name = (res["inputs"].get("metadata") or {}).get("name")
    members = [
        d
        for d in g.of_type("kubernetes:apps/v1:Deployment")
        if (pod_spec_of(d).get("nodeSelector") or {}).get(NODEPOOL_LABEL) == name
    ]
    disk = _disk_gib(res, g) * p.rates["ebs_gp3_gb_month"]
    low = high = 0.0
    parts = []
    for deployment in sorted(members, key=lambda d: d["urn"]):
        packing = placement_of(deployment, p, g)
        if isinstance(packing, str):
            return packing
        assert packing is not None
        least = pack(pod_requests(pod_spec_of(deployment)), replica_range(deployment, g)[0], pool_shapes(res, p))
        assert least is not None  # the same pod fits the same shapes at any count
        low += least.nodes * (hourly(least.shape.hourly or 0, p) + disk)
        high += packing.nodes * (hourly(packing.shape.hourly or 0, p) + disk)
        service = (deployment["inputs"].get("metadata") or {}).get("namespace", "?")
        parts.append(f"{service} {_nodes(least)} to {_nodes(packing)}")
    basis = "; ".join(parts) if parts else "no service runs on it: no nodes"
    return Line(low, high, f"Karpenter pool {name}: {basis}{_spot_note(res, p)}")
