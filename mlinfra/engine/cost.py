"""Monthly cost estimate of a plan document, per resource, per service and per stack.

Pricing is data-driven: `PRICERS` maps a resource type token to a function that turns the
recorded inputs into a monthly (low, high) range. A new platform's types slot in by adding an
entry; a type with no entry costs nothing by itself (IAM, Kubernetes objects, route tables).

Two kinds of line:
- direct: the resource itself is billed (node groups, NAT gateways, KMS keys, Fargate tasks);
  only these add up to the stack total.
- allocated: a workload's share of node capacity it runs on (a Kubernetes Deployment on EKS
  nodes). Shown per service so a reviewer sees what a replica change costs, but not added to
  the stack total, where the nodes are already counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources as importlib_resources
from typing import Any

from mlinfra.spec.quantities import parse_cpu_millicores, parse_memory_mib

PLATFORM = "(platform)"


@dataclass(frozen=True)
class PriceTable:
    region: str
    source: str
    taken: str
    hours: float
    rates: dict[str, Any]
    assumptions: dict[str, Any]

    def ec2(self, instance_type: str) -> dict[str, float] | None:
        found = self.rates["ec2"].get(instance_type)
        return dict(found) if found is not None else None


def load_prices(region: str, overrides: dict[str, float] | None = None) -> PriceTable | None:
    """The shipped table for `region` (None when it has no prices); `overrides` replace EC2 hourly rates."""
    raw = json.loads(importlib_resources.files("mlinfra.engine").joinpath("prices/aws.json").read_text())
    rates = raw["regions"].get(region)
    if isinstance(rates, str):  # a region whose rate card is identical to another's
        rates = raw["regions"][rates]
    if rates is None:
        return None
    rates = {**rates, "ec2": {k: dict(v) for k, v in rates["ec2"].items()}}
    source, taken = raw["source"], raw["taken"]
    for itype, hourly in (overrides or {}).items():
        rates["ec2"].setdefault(itype, {"vcpu": 0, "memory_gib": 0, "gpus": 0})["hourly"] = hourly
    if overrides:
        source = f"AWS Price List API (EC2 instances: {', '.join(sorted(overrides))}); other rates: {source}"
    return PriceTable(region, source, taken, float(raw["hours_per_month"]), rates, raw["assumptions"])


def supported_regions() -> list[str]:
    raw = json.loads(importlib_resources.files("mlinfra.engine").joinpath("prices/aws.json").read_text())
    return sorted(raw["regions"])


@dataclass(frozen=True)
class Line:
    low: float
    high: float
    basis: str
    allocated: bool = False


class Graph:
    """Lookups over the plan's resources that pricers need (dependencies, siblings)."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources
        self.by_urn = {r["urn"]: r for r in resources}

    def deps(self, res: dict[str, Any], type_: str) -> list[dict[str, Any]]:
        return [self.by_urn[u] for u in res.get("dependencies", []) if self.by_urn.get(u, {}).get("type") == type_]

    def dependents(self, res: dict[str, Any], type_: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == type_ and res["urn"] in r.get("dependencies", [])]

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == type_]


Pricer = Callable[[dict[str, Any], PriceTable, Graph], Line | str | None]
PRICERS: dict[str, Pricer] = {}


def pricer(*types: str) -> Callable[[Pricer], Pricer]:
    def register(fn: Pricer) -> Pricer:
        for t in types:
            PRICERS[t] = fn
        return fn
    return register


def _hourly(rate: float, p: PriceTable, count: float = 1) -> float:
    return rate * p.hours * count


@pricer("aws:eks/cluster:Cluster")
def _eks(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    # Extended support (a version past standard support, opted into) is billed per cluster hour
    # at a higher rate; STANDARD clusters are upgraded by EKS instead.
    extended = (res["inputs"].get("upgradePolicy") or {}).get("supportType") == "EXTENDED"
    m = _hourly(p.rates["eks_cluster_extended_support_hourly" if extended else "eks_cluster_hourly"], p)
    return Line(m, m, "EKS control plane, extended support, 730 h" if extended else "EKS control plane, 730 h")


def _instances(itype: str, low: int, high: int, disk_gib: float, p: PriceTable, what: str) -> Line | str:
    spec = p.ec2(itype)
    if spec is None or "hourly" not in spec:
        return f"no price for instance type {itype} in {p.region}"
    disk = disk_gib * p.rates["ebs_gp3_gb_month"]
    per = _hourly(spec["hourly"], p) + disk
    basis = f"{low}\u2013{high} \u00d7 {itype} ({what}) at ${spec['hourly']}/h"
    basis += f" + {disk_gib:g} GiB gp3" if disk_gib else ""
    return Line(per * low, per * high, basis)


@pricer("aws:eks/nodeGroup:NodeGroup")
def _node_group(res: dict[str, Any], p: PriceTable, g: Graph) -> Line | str:
    inputs = res["inputs"]
    scaling = inputs.get("scalingConfig") or {}
    types = inputs.get("instanceTypes") or []
    if not types:
        return "node group without instanceTypes"
    disk = sum(_template_disk(t) for t in g.deps(res, "aws:ec2/launchTemplate:LaunchTemplate")) or float(
        inputs.get("diskSize") or 20)
    # Desired (what runs after `pulumi up`) to max (what the autoscaler may add): a scale-to-zero
    # pool at min 0 still runs its desired nodes until the autoscaler removes them.
    low, high = int(scaling.get("desiredSize", scaling.get("minSize", 0))), int(scaling.get("maxSize", 0))
    spot = " spot priced at on-demand" if inputs.get("capacityType") == "SPOT" else ""
    return _instances(types[0], low, high, disk, p, "nodes" + spot)


def _template_disk(template: dict[str, Any]) -> float:
    return sum(float((m.get("ebs") or {}).get("volumeSize") or 0)
               for m in template["inputs"].get("blockDeviceMappings") or [])


@pricer("aws:autoscaling/group:Group")
def _asg(res: dict[str, Any], p: PriceTable, g: Graph) -> Line | str:
    inputs = res["inputs"]
    templates = g.deps(res, "aws:ec2/launchTemplate:LaunchTemplate")
    itype = next((t["inputs"].get("instanceType") for t in templates if t["inputs"].get("instanceType")), None)
    itype = itype or inputs.get("instanceType")
    if not itype:
        return "auto scaling group whose instance type is not in the plan"
    low = int(inputs.get("desiredCapacity", inputs.get("minSize", 0)))
    disk = sum(_template_disk(t) for t in templates)
    return _instances(itype, low, int(inputs.get("maxSize", low)), disk, p, "instances")


@pricer("aws:ec2/instance:Instance")
def _instance(res: dict[str, Any], p: PriceTable, g: Graph) -> Line | str:
    return _instances(str(res["inputs"].get("instanceType")), 1, 1, 0, p, "instance")


@pricer("aws:ec2/natGateway:NatGateway")
def _nat(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    m = _hourly(p.rates["nat_gateway_hourly"], p)
    return Line(m, m, "NAT gateway hours (GB processed not estimated)")


@pricer("aws:ec2/eip:Eip")
def _eip(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    m = _hourly(p.rates["public_ipv4_hourly"], p)
    return Line(m, m, "public IPv4 address hours")


@pricer("aws:kms/key:Key")
def _kms(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    return Line(p.rates["kms_key_month"], p.rates["kms_key_month"], "KMS customer managed key")


@pricer("aws:secretsmanager/secret:Secret")
def _secret(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    m = p.rates["secrets_manager_secret_month"]
    return Line(m, m, "Secrets Manager secret (API calls not estimated)")


@pricer("aws:cloudwatch/logGroup:LogGroup")
def _logs(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    gb = p.assumptions["cloudwatch_log_gb_per_group_month"]
    m = gb * (p.rates["cloudwatch_logs_ingest_gb"] + p.rates["cloudwatch_logs_store_gb_month"])
    return Line(m, m, f"CloudWatch logs baseline: {gb} GB ingested and stored per month")


@pricer("aws:ecr/repository:Repository")
def _ecr(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    gb = p.assumptions["ecr_gb_per_repository"]
    m = gb * p.rates["ecr_storage_gb_month"]
    return Line(m, m, f"ECR storage baseline: {gb} GB of images")


@pricer("aws:amp/workspace:Workspace")
def _amp(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    samples = p.assumptions["amp_samples_per_month"]
    m = samples / 1e7 * p.rates["amp_ingest_per_10m_samples"] + p.assumptions["amp_stored_gb"] * p.rates[
        "amp_storage_gb_month"]
    return Line(m, m, f"AMP baseline: {samples / 1e6:g}M samples ingested per month")


@pricer("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
def _lb(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    kind = res["inputs"].get("loadBalancerType", "application")
    rate = p.rates["nlb_hourly" if kind == "network" else "alb_hourly"]
    m = _hourly(rate + p.assumptions["alb_lcus"] * p.rates["lcu_hourly"], p)
    return Line(m, m, f"{kind} load balancer hours + {p.assumptions['alb_lcus']} LCU")


_ALB_GROUP = "alb.ingress.kubernetes.io/group.name"


@pricer("kubernetes:networking.k8s.io/v1:Ingress")
def _ingress(res: dict[str, Any], p: PriceTable, g: Graph) -> Line | None:
    # The AWS Load Balancer Controller turns each ingress group into one ALB, created outside
    # Pulumi; its cost is split evenly over the ingresses that share it.
    group = _ingress_group(res)
    if group is None:
        return None
    members = [r for r in g.of_type(res["type"]) if _ingress_group(r) == group]
    m = _hourly(p.rates["alb_hourly"] + p.assumptions["alb_lcus"] * p.rates["lcu_hourly"], p) / len(members)
    return Line(m, m, f"1/{len(members)} of ALB `{group}` (created by the load balancer controller)")


def _ingress_group(res: dict[str, Any]) -> str | None:
    inputs = res["inputs"]
    if (inputs.get("spec") or {}).get("ingressClassName") != "alb":
        return None
    meta = inputs.get("metadata") or {}
    return str((meta.get("annotations") or {}).get(_ALB_GROUP) or f"{meta.get('namespace')}/{meta.get('name')}")


def replica_range(deployment: dict[str, Any], g: Graph) -> tuple[int, int]:
    """(min, max) replicas: from the HPA that targets the Deployment, else its static count."""
    meta = deployment["inputs"].get("metadata") or {}
    for hpa in g.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler"):
        hmeta, hspec = hpa["inputs"].get("metadata") or {}, hpa["inputs"].get("spec") or {}
        target = hspec.get("scaleTargetRef") or {}
        if hmeta.get("namespace") == meta.get("namespace") and target.get("kind") == "Deployment" \
                and target.get("name") == meta.get("name"):
            return int(hspec.get("minReplicas", 1)), int(hspec.get("maxReplicas", 1))
    n = int((deployment["inputs"].get("spec") or {}).get("replicas", 1))
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
    share = max(limits["cpu"] / spec["vcpu"], limits["mem"] / spec["memory_gib"],
                limits["gpu"] / spec["gpus"] if spec["gpus"] else 0.0)
    low, high = replica_range(res, g)
    per = _hourly(spec["hourly"], p) * share
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


@pricer("aws:ecs/service:Service")
def _ecs_service(res: dict[str, Any], p: PriceTable, g: Graph) -> Line | str | None:
    inputs = res["inputs"]
    strategy = [s.get("capacityProvider") for s in inputs.get("capacityProviderStrategies") or []]
    fargate = inputs.get("launchType") == "FARGATE" or any(str(s).startswith("FARGATE") for s in strategy)
    if not fargate:
        return None  # EC2-backed: the auto scaling group carries the cost
    tasks = g.deps(res, "aws:ecs/taskDefinition:TaskDefinition")
    if not tasks:
        return "Fargate service whose task definition is not in the plan"
    try:
        vcpu = float(tasks[0]["inputs"]["cpu"]) / 1024
        gb = float(tasks[0]["inputs"]["memory"]) / 1024
    except (KeyError, TypeError, ValueError):
        return "task definition without numeric cpu/memory"
    low = high = int(inputs.get("desiredCount", 1))
    for target in g.dependents(res, "aws:appautoscaling/target:Target"):
        low, high = int(target["inputs"].get("minCapacity", low)), int(target["inputs"].get("maxCapacity", high))
    per = _hourly(vcpu * p.rates["fargate_vcpu_hourly"] + gb * p.rates["fargate_gb_hourly"], p)
    return Line(per * low, per * high, f"{low}\u2013{high} Fargate tasks \u00d7 {vcpu:g} vCPU / {gb:g} GB")


def _round(x: float) -> float:
    return round(x + 0.0, 2)


def estimate(doc: dict[str, Any], prices: PriceTable | None) -> dict[str, Any]:
    """The `cost` section of a plan document."""
    resources = doc["resources"]
    if prices is None:
        return {"currency": "USD", "period": "month", "prices": None, "resources": [], "services": {},
                "total": None, "unpriced": [{"urn": None, "type": None,
                                             "reason": "no price table for this region"}]}
    graph = Graph(resources)
    lines: list[dict[str, Any]] = []
    unpriced: list[dict[str, Any]] = []
    for res in resources:
        fn = PRICERS.get(res["type"])
        result = fn(res, prices, graph) if fn else None
        if isinstance(result, str):
            unpriced.append({"urn": res["urn"], "type": res["type"], "reason": result})
        elif result is not None:
            lines.append({"urn": res["urn"], "type": res["type"], "service": res.get("service", PLATFORM),
                          "min": _round(result.low), "max": _round(result.high), "basis": result.basis,
                          "allocated": result.allocated})
    services: dict[str, dict[str, float]] = {}
    for line in lines:
        entry = services.setdefault(line["service"], {"min": 0.0, "max": 0.0})
        entry["min"] += line["min"]
        entry["max"] += line["max"]
    direct = [x for x in lines if not x["allocated"]]
    return {
        "currency": "USD", "period": "month",
        "prices": {"region": prices.region, "taken": prices.taken, "source": prices.source,
                   "hours_per_month": prices.hours, "assumptions": prices.assumptions},
        "resources": lines,
        "services": {k: {"min": _round(v["min"]), "max": _round(v["max"])} for k, v in sorted(services.items())},
        "total": {"min": _round(sum(x["min"] for x in direct)), "max": _round(sum(x["max"] for x in direct))},
        "unpriced": unpriced,
    }


def instance_types(doc: dict[str, Any]) -> list[str]:
    """EC2 instance types the plan runs (for a live price refresh)."""
    found: set[str] = set()
    for res in doc["resources"]:
        inputs = res["inputs"]
        found.update(str(t) for t in inputs.get("instanceTypes") or [])
        if res["type"] in ("aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance") \
                and inputs.get("instanceType"):
            found.add(str(inputs["instanceType"]))
    return sorted(found)


def money(x: float) -> str:
    return f"${x:,.2f}"


def money_range(r: dict[str, float] | None) -> str:
    if r is None:
        return "n/a"
    return money(r["min"]) if r["min"] == r["max"] else f"{money(r['min'])}\u2013{money(r['max'])}"
