"""ECS cluster: Container Insights, Fargate for CPU services, GPU EC2 capacity providers."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import TOKEN_PREFIX, child, physical_name, tags
from mlinfra.components.iam import assume_role_policy
from mlinfra.spec.ecs import GpuCapacity
from mlinfra.spec.stack import StackSettings

FARGATE = "FARGATE"
INSTANCE_POLICIES = {
    "ecs": "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role",
    "ssm": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
}


def cluster_name(stack: str) -> str:
    """A plain, known name (`<project>-<stack>`): the instances' user data must name the
    cluster before it exists."""
    return physical_name(stack)


IMAGE_PULL_BEHAVIOR = "once"


def gpu_user_data(cluster: str) -> str:
    """ECS agent config for GPU hosts, base64 as launch templates take it."""
    script = "\n".join(
        [
            "#!/bin/bash",
            f"echo ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config",
            "echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config",
            # Tasks must not borrow the instance role through IMDS (hop limit 1 covers bridge
            # networking; this covers awsvpc tasks too).
            "echo ECS_AWSVPC_BLOCK_IMDS=true >> /etc/ecs/ecs.config",
            "echo ECS_ENABLE_SPOT_INSTANCE_DRAINING=true >> /etc/ecs/ecs.config",
            # Tasks run images by digest, whose bytes never change: pull once per host (the
            # IfNotPresent of EKS pods). `once`, not `prefer-cached`: the agent's image
            # cleanup stays on. Fargate has no image cache; this is for the EC2 GPU hosts.
            f"echo ECS_IMAGE_PULL_BEHAVIOR={IMAGE_PULL_BEHAVIOR} >> /etc/ecs/ecs.config",
            "",
        ]
    )
    return base64.b64encode(script.encode()).decode()


@dataclass(frozen=True)
class EcsClusterArgs:
    stack: str
    settings: StackSettings
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Output[str]]


class EcsCluster(pulumi.ComponentResource):
    """The cluster and its capacity: Fargate always, plus one EC2 provider per GPU capacity."""

    cluster_arn: pulumi.Output[str]
    """ARN of the ECS cluster."""
    cluster_name: str
    """Name of the ECS cluster (plain: `<project>-<stack>`)."""
    gpu_providers: dict[str, str]
    """GPU type -> capacity provider name that serves it (the first, by name)."""
    capacity_providers: pulumi.Resource
    """The cluster's capacity-provider association; services must wait for it."""

    def __init__(self, name: str, args: EcsClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}EcsCluster", name, None, opts)
        ecs = args.settings.ecs
        base_tags = tags(args.stack)
        self.cluster_name = cluster_name(args.stack)
        # Fixed names cannot be created before the old one is deleted; prod is protected.
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=self.cluster_name,
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value=ecs.container_insights)],
            tags=base_tags,
            opts=child(self, delete_before_replace=True, protect=args.settings.production),
        )
        self.cluster_arn = cluster.arn

        provider_names: list[pulumi.Input[str]] = [FARGATE]
        self.gpu_providers = {}
        if ecs.gpu_capacity:
            role = aws.iam.Role(
                f"{name}-instance-role",
                assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
                tags=base_tags,
                opts=child(self),
            )
            for key, arn in INSTANCE_POLICIES.items():
                aws.iam.RolePolicyAttachment(f"{name}-instance-{key}", role=role.name, policy_arn=arn, opts=child(self))
            profile = aws.iam.InstanceProfile(
                f"{name}-instance-profile", role=role.name, tags=base_tags, opts=child(self)
            )
            # Hosts need no inbound traffic: tasks get their own ENIs and security groups.
            host_sg = aws.ec2.SecurityGroup(
                f"{name}-gpu-hosts",
                vpc_id=args.vpc_id,
                description="ECS GPU container instances (egress only)",
                egress=[
                    aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"])
                ],
                tags=base_tags,
                opts=child(self),
            )
            # Pinned in config (`mlinfra:ecs.gpuAmiId`), never looked up per run: a new AMI
            # release must not turn a no-op `pulumi up` into a host replacement.
            assert ecs.gpu_ami_id is not None  # the loader requires it with GPU capacity
            for cap_name, cap in ecs.gpu_capacity.items():
                provider = self._gpu_capacity(
                    f"{name}-{cap_name}", cap_name, cap, args, ecs.gpu_ami_id, profile, host_sg, cluster
                )
                provider_names.append(provider.name)
                self.gpu_providers.setdefault(cap.gpu_type, f"{self.cluster_name}-{cap_name}")
        self.capacity_providers = aws.ecs.ClusterCapacityProviders(
            f"{name}-capacity",
            cluster_name=cluster.name,
            capacity_providers=provider_names,
            # Without a strategy a service goes to Fargate; GPU services name their provider.
            default_capacity_provider_strategies=[
                aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(
                    capacity_provider=FARGATE, weight=1, base=0
                )
            ],
            opts=child(self),
        )
        self.register_outputs({"cluster_arn": self.cluster_arn})

    def _gpu_capacity(
        self,
        name: str,
        cap_name: str,
        cap: GpuCapacity,
        args: EcsClusterArgs,
        ami_id: str,
        profile: aws.iam.InstanceProfile,
        host_sg: aws.ec2.SecurityGroup,
        cluster: aws.ecs.Cluster,
    ) -> aws.ecs.CapacityProvider:
        base_tags = tags(args.stack)
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            image_id=ami_id,
            instance_type=cap.instance_types[0],
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            vpc_security_group_ids=[host_sg.id],
            user_data=gpu_user_data(self.cluster_name),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=cap.disk_size_gib, volume_type="gp3", encrypted="true", delete_on_termination="true"
                    ),
                )
            ],
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type="instance", tags={**base_tags, "Name": name})
            ],
            tags=base_tags,
            opts=child(self),
        )
        overrides = [
            aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateOverrideArgs(instance_type=t)
            for t in cap.instance_types
        ]
        group = aws.autoscaling.Group(
            f"{name}-asg",
            min_size=cap.min_size,
            max_size=cap.max_size,
            desired_capacity=cap.desired_size,
            vpc_zone_identifiers=args.private_subnet_ids,
            mixed_instances_policy=aws.autoscaling.GroupMixedInstancesPolicyArgs(
                launch_template=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateArgs(
                    launch_template_specification=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecificationArgs(
                        launch_template_id=template.id, version=template.latest_version.apply(str)
                    ),
                    overrides=overrides,
                )
            ),
            # Managed termination protection requires scale-in protection on the instances.
            protect_from_scale_in=True,
            health_check_type="EC2",
            # A new AMI (or instance type) replaces the running hosts: new ones first, and ECS
            # managed draining moves tasks off each old host before it terminates.
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=100,
                    max_healthy_percentage=200,
                    instance_warmup="300",
                    skip_matching=True,
                    scale_in_protected_instances="Refresh",
                ),
            ),
            # Outside prod, destroy terminates the hosts without waiting for them to drain.
            force_delete=not args.settings.production,
            tags=[
                aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=True)
                for k, v in {**base_tags, "AmazonECSManaged": "true"}.items()
            ],
            # ECS managed scaling owns the size once the group exists. The hosts register with
            # the cluster by name (user data), so destroy must remove them before the cluster.
            opts=child(self, ignore_changes=["desiredCapacity"], depends_on=[cluster]),
        )
        return aws.ecs.CapacityProvider(
            f"{name}-provider",
            name=f"{self.cluster_name}-{cap_name}",
            opts=child(self, delete_before_replace=True),
            auto_scaling_group_provider=aws.ecs.CapacityProviderAutoScalingGroupProviderArgs(
                auto_scaling_group_arn=group.arn,
                managed_termination_protection="ENABLED",
                managed_draining="ENABLED",
                managed_scaling=aws.ecs.CapacityProviderAutoScalingGroupProviderManagedScalingArgs(
                    status="ENABLED",
                    target_capacity=cap.target_capacity_percent,
                    minimum_scaling_step_size=1,
                    maximum_scaling_step_size=2,
                    instance_warmup_period=300,
                ),
            ),
            tags=base_tags,
        )
