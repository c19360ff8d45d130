"""EKS control plane, its access entries, IRSA, managed add-ons and the system node group
(Karpenter and the add-ons; services run on the Karpenter pools of `components.karpenter`)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlinfra.components.base import TOKEN_PREFIX, child, tags
from mlinfra.components.eks_access import admin_access_entries, kubeconfig_exec
from mlinfra.components.eks_managed_addons import managed_addons
from mlinfra.components.iam import assume_role_policy
from mlinfra.components.network import Network
from mlinfra.spec.stack import StackSettings

CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TYPE_LABEL = "mlinfra.io/gpu-type"
POOL_LABEL = "mlinfra.io/pool"
NODE_POLICIES = {
    "worker": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "cni": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "ecr": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "ssm": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
}


def physical_cluster_name(stack: str) -> str:
    """`<project>-<stack>`: unique per account and region as long as project names are."""
    return f"{pulumi.get_project()}-{stack}"


@dataclass(frozen=True)
class EksClusterArgs:
    stack: str
    settings: StackSettings
    network: Network


class EksCluster(pulumi.ComponentResource):
    """A hardened EKS cluster with the node pools the stack's services need."""

    cluster_name: pulumi.Output[str]
    """Name of the EKS cluster."""
    oidc_provider_arn: pulumi.Output[str]
    """IAM OIDC provider that lets service accounts assume IAM roles (IRSA)."""
    oidc_issuer: pulumi.Output[str]
    """Issuer host/path without the scheme, as IRSA trust conditions need it."""
    provider: k8s.Provider
    """Kubernetes provider bound to this cluster."""
    node_groups: list[aws.eks.NodeGroup]
    """Every managed node group (the system one), for resources that must wait for capacity."""
    system_node_group: aws.eks.NodeGroup
    """The CPU pool Karpenter and the cluster add-ons run on."""
    security_group_id: pulumi.Output[str]
    """The EKS-created cluster security group, which managed and Karpenter nodes share."""
    private_subnet_ids: list[pulumi.Output[str]]
    """Where nodes run."""
    core_addons: list[aws.eks.Addon]
    """The EKS managed add-ons (networking, DNS, pod identity, EBS CSI)."""

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}EksCluster", name, None, opts)
        settings, eks = args.settings, args.settings.eks
        base_tags = tags(args.stack)

        protect = settings.production  # prod's cluster and keys survive an accidental destroy
        key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"EKS secrets envelope encryption ({args.stack})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=base_tags,
            opts=child(self, protect=protect),
        )
        role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=assume_role_policy("eks.amazonaws.com"),
            tags=base_tags,
            opts=child(self),
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=child(self),
        )
        # The cluster name is fixed (not auto-named) so the control-plane log group can exist
        # before the cluster: EKS would otherwise create it itself, without any retention. The
        # project name in it lets two mlinfra projects share an account; a fixed name cannot be
        # replaced create-before-delete, hence delete_before_replace.
        cluster_name = physical_cluster_name(args.stack)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=eks.log_retention_days,
            tags=base_tags,
            opts=child(self, delete_before_replace=True),
        )
        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=cluster_name,
            version=eks.version,
            role_arn=role.arn,
            # STANDARD: past standard support EKS upgrades the cluster instead of silently billing
            # extended support (6x the control-plane price); opting in is a stack decision.
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(
                support_type="EXTENDED" if eks.extended_support else "STANDARD"
            ),
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.network.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=eks.endpoint_public_access,
                public_access_cidrs=list(eks.deployer_cidrs) if eks.endpoint_public_access else None,
            ),
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn),
                resources=["secrets"],
            ),
            # Access only through the access entries of eks.admins: a bootstrap entry for "whoever
            # created it" would lock out CI after a human's first run (and collide with an admin
            # entry for that same identity). It only matters at creation, and changing it replaces
            # the cluster, so clusters created with the old default keep theirs.
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=False
            ),
            tags=base_tags,
            opts=child(
                self,
                depends_on=[cluster_policy, log_group],
                protect=protect,
                delete_before_replace=True,
                ignore_changes=["accessConfig.bootstrapClusterCreatorAdminPermissions"],
            ),
        )
        if not eks.endpoint_public_access:
            # Private endpoint: the deployer's in-VPC (or peered) ranges reach it through the
            # EKS-created cluster security group, which otherwise admits only the cluster itself.
            for cidr in eks.deployer_cidrs:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-deployer-{cidr.replace('/', '-').replace(':', '-')}",
                    security_group_id=cluster.vpc_config.cluster_security_group_id,
                    cidr_ipv4=cidr,
                    ip_protocol="tcp",
                    from_port=443,
                    to_port=443,
                    description="Kubernetes API from the deployer",
                    tags=base_tags,
                    opts=child(self),
                )
        issuer_url = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)  # type: ignore[index]
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer_url, client_id_lists=["sts.amazonaws.com"], tags=base_tags, opts=child(self)
        )
        self.cluster_name = cluster.name
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer = issuer_url.apply(lambda u: u.removeprefix("https://"))

        node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            tags=base_tags,
            opts=child(self),
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{role_key}", role=node_role.name, policy_arn=arn, opts=child(self)
            )
            for role_key, arn in NODE_POLICIES.items()
        ]
        admin_grants = admin_access_entries(name, self, cluster, eks.admins)
        before_nodes, after_nodes = managed_addons(
            name, self, cluster, args.stack, settings, oidc.arn, self.oidc_issuer
        )
        node_deps: list[pulumi.Resource] = [*attachments, *before_nodes]
        system = eks.system_nodes
        self.node_groups = [
            self._node_group(
                f"{name}-system",
                cluster,
                node_role,
                args,
                node_deps,
                instance_types=list(system.instance_types),
                ami_type="AL2023_x86_64_STANDARD",
                sizes=(system.min_size, system.desired_size, system.max_size),
                labels={POOL_LABEL: "system"},
                taints=[],
                disk_gib=50,
                capacity_type="ON_DEMAND",
            )
        ]
        self.security_group_id = cluster.vpc_config.cluster_security_group_id
        self.private_subnet_ids = args.network.private_subnet_ids
        self.system_node_group = self.node_groups[0]
        self.core_addons = [*before_nodes, *after_nodes(self.system_node_group)]

        kubeconfig = pulumi.Output.json_dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "mlinfra",
                "clusters": [
                    {
                        "name": "eks",
                        "cluster": {
                            "server": cluster.endpoint,
                            "certificate-authority-data": cluster.certificate_authority.data,
                        },
                    }
                ],
                "contexts": [{"name": "mlinfra", "context": {"cluster": "eks", "user": "aws"}}],
                "users": [{"name": "aws", "user": {"exec": kubeconfig_exec(cluster.name, settings.region)}}],
            }
        )
        # Nothing may talk to Kubernetes before the deployer's access entry exists.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=kubeconfig,
            enable_server_side_apply=True,
            opts=child(self, depends_on=admin_grants),
        )
        self.register_outputs({"cluster_name": self.cluster_name, "oidc_provider_arn": self.oidc_provider_arn})

    def _node_group(
        self,
        name: str,
        cluster: aws.eks.Cluster,
        node_role: aws.iam.Role,
        args: EksClusterArgs,
        depends: list[pulumi.Resource],
        *,
        instance_types: list[str],
        ami_type: str,
        sizes: tuple[int, int, int],
        labels: dict[str, str],
        taints: list[aws.eks.NodeGroupTaintArgs],
        disk_gib: int,
        capacity_type: str,
    ) -> aws.eks.NodeGroup:
        base_tags = tags(args.stack)
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            # Hop limit 1: pods cannot reach the node's instance role through IMDS.
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=disk_gib, volume_type="gp3", encrypted="true", delete_on_termination="true"
                    ),
                )
            ],
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type="instance", tags=base_tags)],
            tags=base_tags,
            opts=child(self),
        )
        minimum, desired, maximum = sizes
        return aws.eks.NodeGroup(
            name,
            cluster_name=cluster.name,
            # Nodes follow the control plane: EKS refuses the next upgrade while they lag.
            version=cluster.version,
            node_role_arn=node_role.arn,
            subnet_ids=args.network.private_subnet_ids,
            ami_type=ami_type,
            capacity_type=capacity_type,
            instance_types=instance_types,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=minimum, desired_size=desired, max_size=maximum),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            labels=labels,
            taints=taints or None,
            tags=base_tags,
            # Karpenter scales the service pools; this system pool keeps the stack's size.
            opts=child(self, depends_on=depends),
        )
