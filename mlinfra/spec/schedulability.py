"""The schedulability proof of an EKS stack: every service, at its maximum scale plus one
rolling-update surge pod, fits a node of its Karpenter pool, and the pool's limits hold them all.

What a node offers a pod is its *allocatable* capacity as Karpenter v1.14.1 computes it before it
launches one (kube-reserved, eviction threshold and VM memory overhead, with the ENI-limited pod
density of `node_limits.json`), less `DAEMON_ALLOWANCE` for the per-node daemons. Pods of
different services are packed on separate nodes here, so the node counts are an upper bound of
what Karpenter, which mixes them, launches: what passes here fits; a stack within a few pods of
its limits may be refused although a mixed packing would have fit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources as importlib_resources

from mlinfra.errors import Problem
from mlinfra.spec.capacity import GPU_FAMILIES, instance_table
from mlinfra.spec.nodepools import NodePool, pool_for
from mlinfra.spec.service import ServiceSpec

# Karpenter's chart default `settings.vmMemoryOverheadPercent` (a test holds it to the chart).
VM_MEMORY_OVERHEAD = 0.075
EVICTION_HARD_MEMORY_MIB = 100
# mlinfra's allowance for the daemons on every node (aws-node, kube-proxy, ebs-csi-node,
# eks-pod-identity-agent, node-exporter; the NVIDIA device plugin and dcgm-exporter on GPU
# nodes): more than their charts request, so the proof never counts on room they take.
DAEMON_ALLOWANCE_CPU_M = 200
DAEMON_ALLOWANCE_MEMORY_MIB = 512
DAEMON_PODS = 8
# The Deployment's rolling update (`maxSurge: 1, maxUnavailable: 0`) runs one extra pod.
SURGE_PODS = 1


def _max_pods() -> dict[str, int]:
    raw = json.loads(importlib_resources.files("mlinfra.spec").joinpath("node_limits.json").read_text())
    return {k: int(v) for k, v in raw["max_pods"].items()}


MAX_PODS = _max_pods()


def kube_reserved_cpu_m(vcpus: float) -> int:
    """Karpenter's kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of the
    next two, 0.25% of the rest."""
    milli = vcpus * 1000
    reserved = 0.0
    for start, end, share in ((0, 1000, 0.06), (1000, 2000, 0.01), (2000, 4000, 0.005), (4000, 1 << 31, 0.0025)):
        if milli >= start:
            reserved += int((min(milli, end) - start) * share)
    return int(reserved)


@dataclass(frozen=True)
class NodeShape:
    instance_type: str
    vcpu: float
    memory_gib: float
    gpus: int
    cpu_m: int
    """What pods may request of it (millicores), after reservations and the daemons."""
    memory_mib: int
    pods: int
    hourly: float | None

    def capacity(self) -> dict[str, float]:
        """What one node adds to its pool's `limits` (Karpenter counts capacity, not requests)."""
        return {"cpu": self.vcpu, "memory_gib": self.memory_gib, "gpus": float(self.gpus)}


def node_shape(instance_type: str, hourly: float | None = None) -> NodeShape:
    spec = instance_table()[instance_type]
    vcpu, memory_gib, gpus = float(spec["vcpu"]), float(spec["memory_gib"]), int(spec.get("gpus", 0))
    max_pods = MAX_PODS[instance_type]
    memory = memory_gib * 1024
    memory -= math.ceil(memory * VM_MEMORY_OVERHEAD)
    memory -= 11 * max_pods + 255 + EVICTION_HARD_MEMORY_MIB + DAEMON_ALLOWANCE_MEMORY_MIB
    cpu = vcpu * 1000 - kube_reserved_cpu_m(vcpu) - DAEMON_ALLOWANCE_CPU_M
    if hourly is None and "hourly" in spec:
        hourly = float(spec["hourly"])  # the shipped on-demand price: what Karpenter ranks by
    return NodeShape(instance_type, vcpu, memory_gib, gpus, int(cpu), int(memory), max_pods - DAEMON_PODS, hourly)


@dataclass(frozen=True)
class Pod:
    cpu_m: int
    memory_mib: int
    gpus: int = 0

    def per_node(self, shape: NodeShape) -> int:
        """How many of these pods one node of `shape` holds (0: not even one)."""
        counts = [shape.cpu_m // max(self.cpu_m, 1), shape.memory_mib // max(self.memory_mib, 1), shape.pods]
        if self.gpus:
            counts.append(shape.gpus // self.gpus)
        return max(min(counts), 0)


@dataclass(frozen=True)
class Packing:
    shape: NodeShape
    per_node: int
    pods: int

    @property
    def nodes(self) -> int:
        return math.ceil(self.pods / self.per_node) if self.pods else 0

    def capacity(self) -> dict[str, float]:
        return {k: self.nodes * v for k, v in self.shape.capacity().items()}


def pack(pod: Pod, pods: int, shapes: Sequence[NodeShape]) -> Packing | None:
    """The instance type Karpenter would launch for `pods` of these pods: the cheapest in
    total (then the fewest nodes), or None when no shape holds even one pod."""
    fitting = [Packing(s, pod.per_node(s), pods) for s in shapes if pod.per_node(s) > 0]
    if not fitting:
        return None
    return min(fitting, key=lambda k: (max(k.nodes, 1) * (k.shape.hourly or 0), k.nodes, k.shape.vcpu))


def pod_of(spec: ServiceSpec) -> Pod:
    return Pod(spec.cpu, spec.memory, spec.gpu_count if spec.gpu_type else 0)


def shapes_of(pool: NodePool, prices: Mapping[str, float] | None = None) -> list[NodeShape]:
    return [node_shape(t, (prices or {}).get(t)) for t in pool.instance_types]


@dataclass(frozen=True)
class ServiceFit:
    service: str
    pool: str
    pod: Pod
    min_replicas: int
    max_pods: int
    """Maximum replicas plus the rolling-update surge pod."""
    at_min: Packing
    at_max: Packing


# A message lists at most this many instance types, so it stays whole (errors.MAX_MESSAGE).
SHOWN_SHAPES = 4
LIMIT_FIELDS = {"cpu": ("cpu", "vCPUs"), "memory_gib": ("memoryGib", "GiB"), "gpus": ("gpus", "GPUs")}


def _gib(mib: int) -> str:
    return f"{mib / 1024:.1f} GiB"


def _too_large(spec: ServiceSpec, pool_name: str, shapes: list[NodeShape], at: str, file: str) -> list[Problem]:
    """Why no instance type of the pool holds one pod of `spec`, and what would."""
    pod = pod_of(spec)
    field = f"ModelService({spec.name!r})"
    offered = ", ".join(
        f"{s.instance_type}: {s.cpu_m / 1000:g} vCPU, {_gib(s.memory_mib)}" + (f", {s.gpus} GPU" if pod.gpus else "")
        for s in shapes[:SHOWN_SHAPES]
    ) + (f" and {len(shapes) - SHOWN_SHAPES} more" if len(shapes) > SHOWN_SHAPES else "")
    family = GPU_FAMILIES[spec.gpu_type][0] if spec.gpu_type else None
    candidates = sorted(
        (
            node_shape(t)
            for t, shape in instance_table().items()
            if (t.split(".")[0] == family if family else not shape.get("gpus"))
        ),
        key=lambda s: (s.vcpu, s.memory_gib),
    )
    fix = next((s for s in candidates if pod.per_node(s) > 0), None)
    found = []
    for attr, need, have, shown in (
        ("cpu", pod.cpu_m, max(s.cpu_m for s in shapes), lambda v: f"{v / 1000:g} vCPU"),
        ("memory", pod.memory_mib, max(s.memory_mib for s in shapes), _gib),
        ("gpu_count", pod.gpus, max(s.gpus for s in shapes), lambda v: f"{v} GPU"),
    ):
        if need <= have:
            continue
        remedy = (
            f"add {fix.instance_type} (pods may use {fix.cpu_m / 1000:g} vCPU, {_gib(fix.memory_mib)}) to "
            f"mlinfra:nodePools.{pool_name}.instanceTypes in {file}"
            if fix
            else f"no {family or 'CPU'} instance type mlinfra knows is large enough"
        )
        found.append(
            Problem(
                at,
                f"{field}.{attr}",
                shown(need),
                f"one pod never fits a node of pool {pool_name!r}: after kubelet reservations and the "
                f"node daemons its instance types offer pods at most {offered}. Allowed: at most "
                f"{shown(have)}, or {remedy}",
            )
        )
    return found


def _over_limits(
    pool_name: str, pool: NodePool, fits: list[ServiceFit], file: str, specs: Mapping[str, ServiceSpec]
) -> list[Problem]:
    assert pool.limits is not None
    total = {k: sum(f.at_max.capacity()[k] for f in fits) for k in LIMIT_FIELDS}
    problems = []
    for key, (camel, unit) in LIMIT_FIELDS.items():
        limit = getattr(pool.limits, key)
        if limit is None or total[key] <= limit:
            continue
        needs = "; ".join(
            f"{f.service}: {f.max_pods - SURGE_PODS} replicas + {SURGE_PODS} surge pod, "
            f"{f.at_max.per_node} per {f.at_max.shape.instance_type} = {f.at_max.nodes} node(s) = "
            f"{f.at_max.capacity()[key]:g} {unit}"
            for f in fits
        )
        biggest = max(fits, key=lambda f: f.at_max.capacity()[key])
        room = limit - (total[key] - biggest.at_max.capacity()[key])
        per_node = biggest.at_max.shape.capacity()[key]
        fewer = int(room // per_node) * biggest.at_max.per_node - SURGE_PODS if per_node else 0
        spec = specs[biggest.service]
        where = "autoscaling.maxReplicas" if spec.autoscaling else "replicas"
        smaller = f", or {biggest.service} {where} at most {fewer}" if fewer >= 1 else ""
        problems.append(
            Problem(
                file,
                f"mlinfra:nodePools.{pool_name}.limits.{camel}",
                limit,
                f"the pool's services at maximum scale need {total[key]:g} {unit} of nodes ({needs}); "
                f"Karpenter stops at the limit and the rest stay Pending (a rolling update's surge pod "
                f"too, so the rollout stalls). Allowed: limits.{camel} of {total[key]:g} or more{smaller}",
            )
        )
    return problems


def prove(
    pools: Mapping[str, NodePool],
    services: Sequence[ServiceSpec],
    where: Mapping[str, str],
    file: str,
    prices: Mapping[str, float] | None = None,
) -> tuple[list[ServiceFit], list[Problem]]:
    """Each service's packing in its pool, and every reason the stack cannot be scheduled."""
    fits: list[ServiceFit] = []
    problems: list[Problem] = []
    for spec in services:
        at = where.get(spec.name, file)
        name = pool_for(dict(pools), spec.gpu_type)
        if name is None:
            offered = ", ".join(sorted(p.gpu_type or "CPU" for p in pools.values())) or "none"
            kind = f"{spec.gpu_type} GPU" if spec.gpu_type else "CPU"
            problems.append(
                Problem(
                    at,
                    f"ModelService({spec.name!r}).gpu" if spec.gpu_type else f"ModelService({spec.name!r})",
                    spec.gpu_type or "cpu",
                    f"stack has no node pool for {kind} services; pools in {file} (mlinfra:nodePools) "
                    f"serve: {offered}. Add one, e.g. mlinfra:nodePools: "
                    + (
                        f"{{gpu-{spec.gpu_type}: {{gpuType: {spec.gpu_type}, limits: {{gpus: 2}}}}}}"
                        if spec.gpu_type
                        else "{cpu: {limits: {cpu: 32}}}"
                    ),
                )
            )
            continue
        shapes = shapes_of(pools[name], prices)
        pod = pod_of(spec)
        top = spec.max_replicas + SURGE_PODS
        at_max = pack(pod, top, shapes)
        if at_max is None:
            problems += _too_large(spec, name, shapes, at, file)
            continue
        at_min = pack(pod, spec.min_replicas, shapes) or at_max
        fits.append(ServiceFit(spec.name, name, pod, spec.min_replicas, top, at_min, at_max))
    specs = {s.name: s for s in services}
    for name, pool in sorted(pools.items()):
        members = [f for f in fits if f.pool == name]
        if members:
            problems += _over_limits(name, pool, members, file, specs)
    return fits, problems


def proof_rows(fits: Sequence[ServiceFit], pools: Mapping[str, NodePool]) -> list[dict[str, object]]:
    """The proof as the plan document shows it, one row per service."""
    rows = []
    for f in fits:
        limits = pools[f.pool].limits
        rows.append(
            {
                "service": f.service,
                "pool": f.pool,
                "pod": {"cpu_m": f.pod.cpu_m, "memory_mib": f.pod.memory_mib, "gpus": f.pod.gpus},
                "instance_type": f.at_max.shape.instance_type,
                "pods_per_node": f.at_max.per_node,
                "max_pods": f.max_pods,
                "nodes_at_min": f.at_min.nodes,
                "nodes_at_max": f.at_max.nodes,
                "capacity_at_max": f.at_max.capacity(),
                "limits": limits.model_dump(exclude_none=True, by_alias=True) if limits else {},
            }
        )
    return rows


def proof_lines(rows: Sequence[Mapping[str, object]]) -> list[str]:
    """The proof in words, one line per service (plan output)."""
    if not rows:
        return []
    lines = [f"Scheduling: every service fits its Karpenter pool at maximum scale + {SURGE_PODS} surge pod"]
    for row in rows:
        pod = row["pod"]
        capacity = row["capacity_at_max"]
        assert isinstance(pod, dict)
        assert isinstance(capacity, dict)
        gpus = f", {pod['gpus']} GPU" if pod["gpus"] else ""
        limits = row["limits"]
        assert isinstance(limits, dict)
        held = ", ".join(f"{k} {v}" for k, v in limits.items()) or "none"
        lines.append(
            f"  {row['service']} -> pool {row['pool']}: pod {pod['cpu_m']}m CPU, {pod['memory_mib']}Mi{gpus}; "
            f"{row['pods_per_node']} per {row['instance_type']}; {row['max_pods']} pods = {row['nodes_at_max']} "
            f"node(s) ({capacity['cpu']:g} vCPU, {capacity['memory_gib']:g} GiB, {capacity['gpus']:g} GPU); "
            f"pool limits: {held}"
        )
    return lines
