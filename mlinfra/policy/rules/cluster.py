"""Images, the EKS cluster and its nodes, log retention (MLI-ECR-*, MLI-EKS-*, MLI-LOG-*)."""

from __future__ import annotations

from mlinfra.policy.registry import Graph, Resource, rule
from mlinfra.policy.wire import (
    EC2_NODE_CLASS,
    ECR_LIFECYCLE,
    ECR_REPO,
    HELM_RELEASE,
    LAUNCH_TEMPLATE,
    NODE_GROUP,
    NODE_POOL,
    inputs,
    is_gpu_group,
    metadata_options,
    node_taints,
    number,
)


@rule("MLI-ECR-001", "high", "ECR tags are immutable", ECR_REPO)
def _immutable(res: Resource, g: Graph) -> list[str]:
    return [] if inputs(res).get("imageTagMutability") == "IMMUTABLE" else ["imageTagMutability must be IMMUTABLE"]


@rule("MLI-ECR-002", "medium", "ECR scans images on push", ECR_REPO)
def _scan(res: Resource, g: Graph) -> list[str]:
    ok = (inputs(res).get("imageScanningConfiguration") or {}).get("scanOnPush") is True
    return [] if ok else ["imageScanningConfiguration.scanOnPush must be true"]


@rule("MLI-ECR-003", "medium", "ECR repositories are KMS-encrypted", ECR_REPO)
def _ecr_kms(res: Resource, g: Graph) -> list[str]:
    ok = any(c.get("encryptionType") == "KMS" for c in inputs(res).get("encryptionConfigurations") or [])
    return [] if ok else ["encryptionConfigurations must use KMS"]


@rule("MLI-ECR-004", "low", "ECR repositories have a lifecycle policy", ECR_REPO)
def _lifecycle(res: Resource, g: Graph) -> list[str]:
    return [] if g.dependents(res, ECR_LIFECYCLE) else ["no lifecycle policy; old images accumulate forever"]


@rule("MLI-EKS-001", "medium", "EKS control-plane logging is on", "aws:eks/cluster:Cluster")
def _cp_logs(res: Resource, g: Graph) -> list[str]:
    missing = {"api", "audit", "authenticator"} - set(inputs(res).get("enabledClusterLogTypes") or [])
    return [f"enabledClusterLogTypes lacks {', '.join(sorted(missing))}"] if missing else []


@rule("MLI-EKS-002", "high", "EKS secrets are envelope-encrypted with KMS", "aws:eks/cluster:Cluster")
def _envelope(res: Resource, g: Graph) -> list[str]:
    enc = inputs(res).get("encryptionConfig") or {}
    return [] if "secrets" in (enc.get("resources") or []) else ["encryptionConfig must cover `secrets`"]


@rule("MLI-EKS-003", "high", "EKS API endpoint is private or CIDR-restricted", "aws:eks/cluster:Cluster")
def _endpoint(res: Resource, g: Graph) -> list[str]:
    vpc = inputs(res).get("vpcConfig") or {}
    if vpc.get("endpointPublicAccess") is False:
        return []
    cidrs = vpc.get("publicAccessCidrs") or []
    if not cidrs or any(c in ("0.0.0.0/0", "::/0") for c in cidrs):
        return ["the public API endpoint is open to the internet; set mlinfra:eks.deployerCidrs or make it private"]
    return []


@rule("MLI-EKS-004", "high", "nodes require IMDSv2 with hop limit 1", LAUNCH_TEMPLATE, EC2_NODE_CLASS)
def _imds(res: Resource, g: Graph) -> list[str]:
    md = metadata_options(res)
    out = [] if md.get("httpTokens") == "required" else ["metadataOptions.httpTokens must be `required` (IMDSv2)"]
    if number(md.get("httpPutResponseHopLimit")) != 1:
        out.append("metadataOptions.httpPutResponseHopLimit must be 1 so pods cannot use the node's role")
    return out


@rule("MLI-EKS-005", "medium", "GPU nodes are tainted", NODE_GROUP, NODE_POOL)
def _gpu_taint(res: Resource, g: Graph) -> list[str]:
    if not is_gpu_group(res):
        return []
    ok = ("nvidia.com/gpu", "NoSchedule") in node_taints(res)
    return [] if ok else ["GPU node group without the nvidia.com/gpu NoSchedule taint; CPU pods will fill GPU nodes"]


@rule("MLI-EKS-006", "high", "the NVIDIA device plugin runs where GPU nodes exist", NODE_GROUP, NODE_POOL)
def _device_plugin(res: Resource, g: Graph) -> list[str]:
    if not is_gpu_group(res):
        return []
    ok = any(inputs(r).get("chart") == "nvidia-device-plugin" for r in g.of_type(HELM_RELEASE))
    return [] if ok else ["GPU node group but no nvidia-device-plugin release; pods cannot request nvidia.com/gpu"]


@rule("MLI-LOG-001", "low", "log groups have a retention period", "aws:cloudwatch/logGroup:LogGroup")
def _retention(res: Resource, g: Graph) -> list[str]:
    if number(inputs(res).get("retentionInDays")):
        return []
    return ["retentionInDays is unset: logs are kept (and billed) forever"]
