"""The Karpenter NodePools and EC2NodeClasses of `mlinfra:nodePools`, and how a service's pods
are placed on them (nodeSelector, tolerations)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.components.eks_cluster import GPU_TAINT_KEY, GPU_TYPE_LABEL, POOL_LABEL, EksCluster
from mlinfra.spec.nodepools import NodePool

NODEPOOL_API = "karpenter.sh/v1"
NODECLASS_API = "karpenter.k8s.aws/v1"
NODEPOOL_LABEL = "karpenter.sh/nodepool"  # set by Karpenter on every node it launches
AMI_FAMILY = "al2023"
CONSOLIDATION = {"when-empty": "WhenEmpty", "when-empty-or-underutilized": "WhenEmptyOrUnderutilized"}
# How long a node must be empty / underused before Karpenter removes it: long enough that a
# brief dip in traffic does not cost a GPU node and its model load.
CONSOLIDATE_AFTER = {"cpu": "5m", "gpu": "15m"}
# At most this share of a pool's nodes is disrupted (consolidated, drifted) at once.
DISRUPTION_BUDGET = "10%"


def placement(pool_name: str, pool: NodePool) -> dict[str, Any]:
    """The pod-spec fields that put a service on its pool and nowhere else."""
    selector = {NODEPOOL_LABEL: pool_name}
    if pool.gpu_type is None:
        return {"nodeSelector": selector}
    return {
        "nodeSelector": {**selector, GPU_TYPE_LABEL: pool.gpu_type},
        "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
    }


def ami_alias(release: str) -> str:
    """The EC2NodeClass alias of an EKS-optimized AL2023 release (mlinfra:eks.amiVersion).
    Karpenter resolves it per node to the release's AMI for the cluster's Kubernetes version,
    the NVIDIA variant for GPU instance types; a new release drifts the nodes, which Karpenter
    replaces within the pools' disruption budgets."""
    return f"{AMI_FAMILY}@{release}"


def node_class_spec(
    pool: NodePool,
    ami_release: str,
    role: pulumi.Input[str],
    subnet_ids: list[pulumi.Output[str]],
    security_group_id: pulumi.Input[str],
    stack: str,
) -> dict[str, Any]:
    return {
        "role": role,
        "amiSelectorTerms": [{"alias": ami_alias(ami_release)}],
        "subnetSelectorTerms": pulumi.Output.all(*subnet_ids).apply(lambda ids: [{"id": i} for i in ids]),
        "securityGroupSelectorTerms": [{"id": security_group_id}],
        # Hop limit 1: pods cannot reach the node's instance role through IMDS.
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": 1,
            "httpTokens": "required",
        },
        "blockDeviceMappings": [
            {
                "deviceName": "/dev/xvda",
                "ebs": {
                    "volumeSize": f"{pool.disk_size_gib}Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "deleteOnTermination": True,
                },
            }
        ],
        "tags": tags(stack),
    }


def node_pool_spec(name: str, pool: NodePool) -> dict[str, Any]:
    gpu = pool.gpu_type is not None
    labels = {POOL_LABEL: "gpu" if gpu else "cpu"}
    if gpu:
        # nvidia.com/gpu.present: where the device plugin and dcgm-exporter run.
        labels.update({GPU_TYPE_LABEL: str(pool.gpu_type), "nvidia.com/gpu.present": "true"})
    assert pool.limits is not None
    assert pool.consolidation is not None
    limits: dict[str, str] = {}
    if pool.limits.cpu is not None:
        limits["cpu"] = str(pool.limits.cpu)
    if pool.limits.memory_gib is not None:
        limits["memory"] = f"{pool.limits.memory_gib}Gi"
    if pool.limits.gpus is not None:
        limits["nvidia.com/gpu"] = str(pool.limits.gpus)
    template: dict[str, Any] = {
        "metadata": {"labels": labels},
        "spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name},
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [pool.capacity_type]},
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            ],
        },
    }
    if gpu:
        template["spec"]["taints"] = [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}]
    return {
        "template": template,
        "limits": limits,
        "disruption": {
            "consolidationPolicy": CONSOLIDATION[pool.consolidation],
            "consolidateAfter": CONSOLIDATE_AFTER["gpu" if gpu else "cpu"],
            "budgets": [{"nodes": DISRUPTION_BUDGET}],
        },
    }


@dataclass(frozen=True)
class NodePoolsArgs:
    stack: str
    pools: dict[str, NodePool]
    cluster: EksCluster
    node_role_name: pulumi.Input[str]
    depends_on: list[pulumi.Resource]
    ami_release: str


class KarpenterNodePools(pulumi.ComponentResource):
    """One EC2NodeClass and one NodePool per pool."""

    resources: list[pulumi.Resource]
    """Every NodePool and EC2NodeClass, for workloads that must wait for a place to run."""

    def __init__(self, name: str, args: NodePoolsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}KarpenterNodePools", name, None, opts)
        cluster = args.cluster
        self.resources = []
        for pool_name, pool in sorted(args.pools.items()):
            node_class = k8s.apiextensions.CustomResource(
                f"{name}-{pool_name}-class",
                api_version=NODECLASS_API,
                kind="EC2NodeClass",
                metadata={"name": pool_name},
                spec=node_class_spec(
                    pool,
                    args.ami_release,
                    args.node_role_name,
                    cluster.private_subnet_ids,
                    cluster.security_group_id,
                    args.stack,
                ),
                opts=child(self, provider=cluster.provider, depends_on=args.depends_on),
            )
            node_pool = k8s.apiextensions.CustomResource(
                f"{name}-{pool_name}",
                api_version=NODEPOOL_API,
                kind="NodePool",
                metadata={"name": pool_name},
                spec=node_pool_spec(pool_name, pool),
                opts=child(self, provider=cluster.provider, depends_on=[node_class, *args.depends_on]),
            )
            self.resources += [node_class, node_pool]
        self.register_outputs({})
