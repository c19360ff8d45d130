"""Pricers of AWS resources: the EKS control plane and nodes, EC2, NAT, KMS, secrets, logs,
ECR, AMP and load balancers."""

from __future__ import annotations

from typing import Any

from mlinfra.engine.graph import ResourceGraph as Graph
from mlinfra.engine.pricing import Line, PriceTable, hourly, instances, pricer


@pricer("aws:eks/cluster:Cluster")
def _eks(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    # Extended support (a version past standard support, opted into) is billed per cluster hour
    # at a higher rate; STANDARD clusters are upgraded by EKS instead.
    extended = (res["inputs"].get("upgradePolicy") or {}).get("supportType") == "EXTENDED"
    m = hourly(p.rates["eks_cluster_extended_support_hourly" if extended else "eks_cluster_hourly"], p)
    return Line(m, m, "EKS control plane, extended support, 730 h" if extended else "EKS control plane, 730 h")


@pricer("aws:eks/nodeGroup:NodeGroup")
def _node_group(res: dict[str, Any], p: PriceTable, g: Graph) -> Line | str:
    inputs = res["inputs"]
    scaling = inputs.get("scalingConfig") or {}
    types = inputs.get("instanceTypes") or []
    if not types:
        return "node group without instanceTypes"
    disk = sum(_template_disk(t) for t in g.deps(res, "aws:ec2/launchTemplate:LaunchTemplate")) or float(
        inputs.get("diskSize") or 20
    )
    # Desired (what runs after `pulumi up`) to max (what the autoscaler may add): a scale-to-zero
    # pool at min 0 still runs its desired nodes until the autoscaler removes them.
    low, high = int(scaling.get("desiredSize", scaling.get("minSize", 0))), int(scaling.get("maxSize", 0))
    spot = " spot priced at on-demand" if inputs.get("capacityType") == "SPOT" else ""
    return instances(types[0], low, high, disk, p, "nodes" + spot)


def _template_disk(template: dict[str, Any]) -> float:
    return sum(
        float((m.get("ebs") or {}).get("volumeSize") or 0) for m in template["inputs"].get("blockDeviceMappings") or []
    )


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
    return instances(itype, low, int(inputs.get("maxSize", low)), disk, p, "instances")


@pricer("aws:ec2/instance:Instance")
def _instance(res: dict[str, Any], p: PriceTable, g: Graph) -> Line | str:
    return instances(str(res["inputs"].get("instanceType")), 1, 1, 0, p, "instance")


@pricer("aws:ec2/natGateway:NatGateway")
def _nat(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    m = hourly(p.rates["nat_gateway_hourly"], p)
    return Line(m, m, "NAT gateway hours (GB processed not estimated)")


@pricer("aws:ec2/vpcEndpoint:VpcEndpoint")
def _vpc_endpoint(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    inputs = res["inputs"]
    service = str(inputs.get("serviceName", "")).rsplit(".", 1)[-1]
    if inputs.get("vpcEndpointType") == "Gateway":
        gb = p.assumptions["private_path_gb_per_month"]
        avoided = gb * p.rates["nat_gateway_gb"]
        return Line(
            0,
            0,
            f"{service} gateway endpoint: free; keeps an assumed {gb} GB/month of image "
            f"layers and model downloads off the NAT gateway",
            avoided=avoided,
        )
    zones = len(inputs.get("subnetIds") or []) or 1
    m = hourly(p.rates["vpc_endpoint_hourly"], p, zones)
    return Line(m, m, f"{service} interface endpoint in {zones} AZ(s) (GB processed not estimated)")


@pricer("aws:ec2/eip:Eip")
def _eip(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    m = hourly(p.rates["public_ipv4_hourly"], p)
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
    m = (
        samples / 1e7 * p.rates["amp_ingest_per_10m_samples"]
        + p.assumptions["amp_stored_gb"] * p.rates["amp_storage_gb_month"]
    )
    return Line(m, m, f"AMP baseline: {samples / 1e6:g}M samples ingested per month")


@pricer("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
def _lb(res: dict[str, Any], p: PriceTable, g: Graph) -> Line:
    kind = res["inputs"].get("loadBalancerType", "application")
    rate = p.rates["nlb_hourly" if kind == "network" else "alb_hourly"]
    m = hourly(rate + p.assumptions["alb_lcus"] * p.rates["lcu_hourly"], p)
    return Line(m, m, f"{kind} load balancer hours + {p.assumptions['alb_lcus']} LCU")
