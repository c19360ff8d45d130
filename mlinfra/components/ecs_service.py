"""One model on ECS: roles, logs, task definition, target group + listener rule, service,
autoscaling and alert rules."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pulumi
import pulumi_aws as aws

from mlinfra.components.base import TOKEN_PREFIX, child, physical_name, tags
from mlinfra.components.ecs_cluster import FARGATE
from mlinfra.components.ecs_monitoring import rule_group_yaml
from mlinfra.components.ecs_release import (
    LOAD_BALANCER_ROLE_POLICY,
    deployment_alarms,
    deployment_configuration,
    infrastructure_trust,
    release_alarms,
)
from mlinfra.components.ecs_task import (
    MODEL_CONTAINER,
    SCRATCH_VOLUME,
    container_definitions,
    health_check_grace_seconds,
)
from mlinfra.components.iam import ecs_tasks_trust
from mlinfra.components.policies import (
    metrics_write_statements,
    model_read_statements,
    policy_document,
    secret_read_statements,
)
from mlinfra.errors import ComponentError
from mlinfra.serving.contract import READY_PATH
from mlinfra.spec.ecs import (
    ADOT_IMAGE,
    ECS_STEPS_ALLOWED,
    NativeDeployment,
    cpu_units,
    deployment_timeout_seconds,
    deregistration_delay_seconds,
    listener_rule_priority,
    native_deployment,
)
from mlinfra.spec.service import Autoscaling, ServiceSpec

EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


@dataclass(frozen=True)
class EcsRelease:
    """What a canary, linear or blue-green service adds to its ECS service."""

    configuration: aws.ecs.ServiceDeploymentConfigurationArgs
    alarms: aws.ecs.ServiceAlarmsArgs
    load_balancer: aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs
    depends_on: list[pulumi.Resource]


def secret_decrypt_statements(
    region: str, own_key_arn: pulumi.Input[str] | None, config_key_arns: Sequence[str]
) -> list[dict[str, Any]]:
    """kms:Decrypt for the keys that encrypt the service's secrets, only via Secrets Manager.

    The stack's own key (secrets it creates) and the customer keys named in config
    (`mlinfra:ecs.secretsKmsKeyArns`, for existing secrets). A key lives in its secret's
    region, so each key is decryptable through that region's Secrets Manager only.
    """
    keys: list[tuple[pulumi.Input[str], str]] = [(arn, arn.split(":")[3]) for arn in config_key_arns]
    if own_key_arn is not None:
        keys.insert(0, (own_key_arn, region))
    if not keys:
        return []
    services = sorted({f"secretsmanager.{r}.amazonaws.com" for _, r in keys})
    return [
        {
            "Sid": "DecryptSecrets",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": [arn for arn, _ in keys],
            "Condition": {"StringEquals": {"kms:ViaService": services}},
        }
    ]


def deployment_percents(spec: ServiceSpec) -> tuple[int, int]:
    """(minimum healthy %, maximum %) for rolling deployments.

    Fargate capacity is elastic: start new tasks first (100/200), never dip below the count.
    GPU hosts are scarce and slow to add, so by default a deployment must not need a surge
    host: replace one task at a time within the running count (max 100%). With one replica
    that means a short gap while it restarts; run two or more replicas to avoid it.
    """
    if spec.gpu_type is None:
        return 100, 200
    count = spec.min_replicas
    if count <= 1:
        return 0, 100
    return (100 * (count - 1)) // count, 100


class EcsClusterRef(Protocol):
    """What a service needs of its ECS cluster. `EcsCluster` is one; so is any object with
    these attributes over a cluster created elsewhere."""

    @property
    def cluster_arn(self) -> pulumi.Input[str]: ...

    @property
    def cluster_name(self) -> str:
        """Plain name: Application Auto Scaling addresses the service as `service/<cluster>/<name>`."""
        ...

    @property
    def gpu_providers(self) -> Mapping[str, str]:
        """Capacity provider name per GPU type (only GPU services use them)."""
        ...

    @property
    def capacity_providers(self) -> pulumi.Resource | None:
        """The cluster's capacity-provider association, which the service must wait for."""
        ...


class LoadBalancerRef(Protocol):
    """The shared ALB a service attaches to. `SharedLoadBalancer` is one."""

    @property
    def https_listener_arn(self) -> pulumi.Input[str]: ...

    @property
    def security_group_id(self) -> pulumi.Input[str]:
        """The ALB's security group: the only source the tasks admit."""
        ...

    @property
    def arn_suffix(self) -> pulumi.Input[str]:
        """`app/<name>/<id>`, the dimension of request-count scaling."""
        ...


class MonitoringRef(Protocol):
    """Where a service's metrics and rules go. `EcsMonitoring` is one."""

    @property
    def workspace_id(self) -> pulumi.Input[str]:
        """Amazon Managed Prometheus workspace that holds the service's alert rules."""
        ...

    @property
    def workspace_arn(self) -> pulumi.Input[str]: ...

    @property
    def remote_write_url(self) -> pulumi.Input[str]: ...

    @property
    def telemetry_key_arn(self) -> pulumi.Input[str]:
        """KMS key of the service's log group."""
        ...


@dataclass(frozen=True)
class EcsServiceArgs:
    """What one service needs on ECS, and nothing of mlinfra's stack layout."""

    stack: str
    """Stack name: physical names and tags."""
    spec: ServiceSpec
    cluster: EcsClusterRef
    load_balancer: LoadBalancerRef
    monitoring: MonitoringRef
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    image_ref: pulumi.Input[str]
    region: str
    domain: str
    """Host routing answers at `<service>.<domain>`, path routing at `<domain>/<service>/`."""
    routing: Literal["host", "path"] = "host"
    log_retention_days: int = 90
    alb_idle_timeout_seconds: int = 60
    """The ALB's idle timeout, which the runtime's keep-alive must outlast."""
    collector_image: str = ADOT_IMAGE
    """The metrics sidecar (ADOT collector) image."""
    secret_arns: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """The service's secrets by name: created by the stack or existing ARNs."""
    secrets_key_arn: pulumi.Input[str] | None = None
    """KMS key of the stack-created secrets, which the execution role must decrypt with."""
    secrets_kms_key_arns: Sequence[str] = ()
    """Customer keys of existing secrets the execution role must decrypt with."""


class EcsModelService(pulumi.ComponentResource):
    """Everything one model needs on ECS, hardened by default (docs/architecture.md)."""

    hostname: str
    """Where the service answers: `<service>.<domain>`, or the stack domain with path routing."""
    url: str
    """`https://...` URL of the service."""
    service_name: pulumi.Output[str]
    """Name of the ECS service."""

    def __init__(self, name: str, args: EcsServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"{TOKEN_PREFIX}EcsModelService", name, None, opts)
        spec = args.spec
        region = args.region
        service_tags = tags(args.stack, service=spec.name)
        gpu = spec.gpu_type is not None
        account = aws.get_caller_identity_output()
        trust = account.account_id.apply(lambda acct: ecs_tasks_trust(acct, region))

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name="/" + physical_name(args.stack, spec.name, sep="/"),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.monitoring.telemetry_key_arn,
            tags=service_tags,
            opts=child(self, delete_before_replace=True),
        )

        # The task role is what the model server runs as: its model prefix and metrics only.
        task_role = aws.iam.Role(
            f"{name}-task-role",
            assume_role_policy=trust,
            description=f"mlinfra {spec.name}: runtime identity",
            tags=service_tags,
            opts=child(self),
        )
        aws.iam.RolePolicy(
            f"{name}-task-policy",
            role=task_role.id,
            policy=pulumi.Output.json_dumps(
                policy_document(model_read_statements(spec) + metrics_write_statements(args.monitoring.workspace_arn)),
                sort_keys=True,
            ),
            opts=child(self),
        )
        # The execution role is what ECS uses to start the task: pull, log, resolve secrets.
        execution_role = aws.iam.Role(
            f"{name}-execution-role",
            assume_role_policy=trust,
            description=f"mlinfra {spec.name}: ECS agent (pull, logs, secrets)",
            tags=service_tags,
            opts=child(self),
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-execution-managed", role=execution_role.name, policy_arn=EXECUTION_POLICY, opts=child(self)
        )
        if args.secret_arns:
            statements = secret_read_statements([args.secret_arns[n] for n in sorted(args.secret_arns)])
            statements += secret_decrypt_statements(region, args.secrets_key_arn, args.secrets_kms_key_arns)
            aws.iam.RolePolicy(
                f"{name}-execution-secrets",
                role=execution_role.id,
                policy=pulumi.Output.json_dumps(policy_document(statements), sort_keys=True),
                opts=child(self),
            )

        definitions = container_definitions(
            spec,
            stack=args.stack,
            region=region,
            image=args.image_ref,
            log_group=log_group.name,
            secret_arns=args.secret_arns,
            remote_write_url=args.monitoring.remote_write_url,
            collector_image=args.collector_image,
            alb_idle_timeout=args.alb_idle_timeout_seconds,
        )
        task = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=physical_name(args.stack, spec.name),
            cpu=str(cpu_units(spec.cpu)),
            memory=str(spec.memory),
            network_mode="awsvpc",
            requires_compatibilities=["EC2"] if gpu else ["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=SCRATCH_VOLUME)],
            container_definitions=pulumi.Output.json_dumps(definitions, sort_keys=True),
            tags=service_tags,
            opts=child(self),
        )

        task_sg = aws.ec2.SecurityGroup(
            f"{name}-tasks",
            vpc_id=args.vpc_id,
            description=f"mlinfra {spec.name} tasks: only the ALB may connect",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=spec.port,
                    to_port=spec.port,
                    security_groups=[args.load_balancer.security_group_id],
                    description="from the ALB",
                )
            ],
            # S3 (model), ECR, Secrets Manager, CloudWatch and AMP are all HTTPS endpoints.
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="tcp", from_port=443, to_port=443, cidr_blocks=["0.0.0.0/0"], description="AWS APIs"
                )
            ],
            tags=service_tags,
            opts=child(self),
        )

        def target_group_for(logical: str) -> aws.lb.TargetGroup:
            return aws.lb.TargetGroup(
                logical,
                port=spec.port,
                protocol="HTTP",
                protocol_version="HTTP1",
                target_type="ip",
                vpc_id=args.vpc_id,
                # Shorter than the container's stopTimeout + drain: a draining task is taken out of
                # rotation and finishes its in-flight requests before ECS stops it.
                deregistration_delay=deregistration_delay_seconds(spec),
                # Inference latency varies with batch size; route to the least busy replica.
                load_balancing_algorithm_type="least_outstanding_requests",
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    enabled=True,
                    path=READY_PATH,
                    port="traffic-port",
                    protocol="HTTP",
                    matcher="200",
                    interval=10,
                    timeout=5,
                    healthy_threshold=2,
                    unhealthy_threshold=3,
                ),
                tags=service_tags,
                opts=child(self),
            )

        rollout = spec.delivery
        native = native_deployment(rollout)
        if native is None:
            # The loader reports this as an input problem; a component user gets it here.
            raise ComponentError(
                f"ServiceSpec({spec.name!r}).rollout.steps = {list(rollout.steps)}: {ECS_STEPS_ALLOWED}"
            )
        progressive = native.strategy != "ROLLING"
        target_group = target_group_for(f"{name}-tg")
        # A canary runs beside the current version, in the other group ("-tg2": within the
        # 32-character target-group name with Pulumi's suffix).
        alternate_group = target_group_for(f"{name}-tg2") if progressive else None

        routing = args.routing
        self.hostname = f"{spec.name}.{args.domain}" if routing == "host" else args.domain
        self.url = f"https://{self.hostname}" if routing == "host" else f"https://{self.hostname}/{spec.name}/"
        conditions = [
            aws.lb.ListenerRuleConditionArgs(
                host_header=aws.lb.ListenerRuleConditionHostHeaderArgs(values=[self.hostname])
            )
        ]
        transforms = None
        if routing == "path":
            conditions.append(
                aws.lb.ListenerRuleConditionArgs(
                    path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=[f"/{spec.name}/*"])
                )
            )
            # The runtime serves /predict, /ready...; strip the routing prefix at the ALB.
            transforms = [
                aws.lb.ListenerRuleTransformArgs(
                    type="url-rewrite",
                    url_rewrite_config=aws.lb.ListenerRuleTransformUrlRewriteConfigArgs(
                        rewrite=aws.lb.ListenerRuleTransformUrlRewriteConfigRewriteArgs(
                            regex=f"^/{spec.name}/(.*)$", replace="/$1"
                        )
                    ),
                )
            ]
        if spec.public and spec.allowed_cidrs:
            conditions.append(
                aws.lb.ListenerRuleConditionArgs(
                    source_ip=aws.lb.ListenerRuleConditionSourceIpArgs(values=list(spec.allowed_cidrs))
                )
            )
        rule = aws.lb.ListenerRule(
            f"{name}-rule",
            listener_arn=args.load_balancer.https_listener_arn,
            priority=listener_rule_priority(spec.name),
            conditions=conditions,
            transforms=transforms,
            actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=target_group.arn)],
            tags=service_tags,
            # During and after a release ECS owns the rule's weights (and which group is live):
            # an `up` resetting them would send traffic to the group without tasks.
            opts=child(self, ignore_changes=["actions"] if progressive else None),
        )
        release = (
            self._release(name, args, native, service_tags, target_group, alternate_group, rule)
            if progressive and alternate_group is not None
            else None
        )

        minimum, maximum = deployment_percents(spec)
        timeout = f"{math.ceil(deployment_timeout_seconds(spec) / 60)}m"
        # GPU hosts: spread replicas over zones, then pack hosts so idle ones can scale in.
        # Fargate takes no placement strategies, but a platform version and AZ rebalancing.
        provider = args.cluster.gpu_providers[spec.gpu_type or ""] if gpu else FARGATE
        strategies = (
            [
                aws.ecs.ServiceOrderedPlacementStrategyArgs(type="spread", field="attribute:ecs.availability-zone"),
                aws.ecs.ServiceOrderedPlacementStrategyArgs(type="binpack", field="memory"),
            ]
            if gpu
            else None
        )
        ignored = ["desiredCount"] if spec.autoscaling is not None else []
        if progressive:
            # ECS swaps the primary and alternate groups after each release.
            ignored.append("loadBalancers")
        service = aws.ecs.Service(
            f"{name}-service",
            name=spec.name,
            cluster=args.cluster.cluster_arn,
            task_definition=task.arn,
            desired_count=spec.min_replicas,
            capacity_provider_strategies=[
                aws.ecs.ServiceCapacityProviderStrategyArgs(capacity_provider=provider, weight=1, base=0)
            ],
            # The circuit breaker serves rolling deployments only; a canary is judged by alarms.
            deployment_circuit_breaker=(
                None if progressive else aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True)
            ),
            deployment_configuration=release.configuration if release else None,
            alarms=release.alarms if release else None,
            deployment_minimum_healthy_percent=minimum,
            deployment_maximum_percent=maximum,
            health_check_grace_period_seconds=health_check_grace_seconds(spec),
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.private_subnet_ids, security_groups=[task_sg.id], assign_public_ip=False
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=target_group.arn,
                    container_name=MODEL_CONTAINER,
                    container_port=spec.port,
                    advanced_configuration=release.load_balancer if release else None,
                )
            ],
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            enable_execute_command=False,
            # `pulumi up` fails when the rollout does (circuit breaker), instead of reporting a
            # task definition as deployed that ECS then rolls back.
            wait_for_steady_state=True,
            tags=service_tags,
            ordered_placement_strategies=strategies,
            platform_version=None if gpu else "LATEST",
            availability_zone_rebalancing=None if gpu else "ENABLED",
            # An autoscaler owns the running count once the service exists; without one,
            # `replicas` stays managed here so edits take effect.
            opts=child(
                self,
                depends_on=[rule]
                + ([args.cluster.capacity_providers] if args.cluster.capacity_providers else [])
                + (release.depends_on if release else []),
                ignore_changes=ignored or None,
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout),
            ),
        )
        self.service_name = service.name

        if spec.autoscaling is not None:
            self._autoscaling(name, args, spec.autoscaling, service_tags, target_group, service)
        aws.amp.RuleGroupNamespace(
            f"{name}-rules",
            name=f"mlinfra-{spec.name}",
            workspace_id=args.monitoring.workspace_id,
            data=rule_group_yaml(spec),
            tags=service_tags,
            opts=child(self),
        )
        self.register_outputs({"url": self.url, "service_name": self.service_name})

    def _release(
        self,
        name: str,
        args: EcsServiceArgs,
        native: NativeDeployment,
        service_tags: dict[str, str],
        target_group: aws.lb.TargetGroup,
        alternate_group: aws.lb.TargetGroup,
        rule: aws.lb.ListenerRule,
    ) -> EcsRelease:
        """The role ECS shifts traffic with, the alarms it watches, and the configuration."""
        spec = args.spec
        rollout = spec.delivery
        role = aws.iam.Role(
            f"{name}-release-role",
            assume_role_policy=infrastructure_trust(),
            description=f"mlinfra {spec.name}: ECS shifts release traffic between target groups",
            tags=service_tags,
            opts=child(self),
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-release-managed", role=role.name, policy_arn=LOAD_BALANCER_ROLE_POLICY, opts=child(self)
        )
        alarms = release_alarms(
            self,
            name,
            args.stack,
            spec.name,
            rollout,
            args.load_balancer.arn_suffix,
            {"blue": target_group.arn_suffix, "green": alternate_group.arn_suffix},
            service_tags,
        )
        return EcsRelease(
            configuration=deployment_configuration(native, rollout),
            alarms=deployment_alarms([a.name for a in alarms]),
            load_balancer=aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs(
                alternate_target_group_arn=alternate_group.arn, production_listener_rule=rule.arn, role_arn=role.arn
            ),
            depends_on=[attachment, *alarms],
        )

    def _autoscaling(
        self,
        name: str,
        args: EcsServiceArgs,
        scaling: Autoscaling,
        service_tags: dict[str, str],
        target_group: aws.lb.TargetGroup,
        service: aws.ecs.Service,
    ) -> None:
        spec = args.spec
        target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=f"service/{args.cluster.cluster_name}/{spec.name}",
            min_capacity=scaling.min_replicas,
            max_capacity=scaling.max_replicas,
            tags=service_tags,
            opts=child(self, depends_on=[service]),
        )
        # Scale out fast, in slowly: a new replica pays the model load time.
        aws.appautoscaling.Policy(
            f"{name}-cpu",
            policy_type="TargetTrackingScaling",
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=float(scaling.target_cpu_percent),
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ECSServiceAverageCPUUtilization"
                ),
                scale_in_cooldown=300,
                scale_out_cooldown=60,
            ),
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            service_namespace=target.service_namespace,
            opts=child(self),
        )
        if scaling.target_requests_per_second is not None:
            aws.appautoscaling.Policy(
                f"{name}-requests",
                policy_type="TargetTrackingScaling",
                target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    # The metric counts requests per target per minute.
                    target_value=float(scaling.target_requests_per_second * 60),
                    predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type="ALBRequestCountPerTarget",
                        resource_label=pulumi.Output.concat(
                            args.load_balancer.arn_suffix, "/", target_group.arn_suffix
                        ),
                    ),
                    scale_in_cooldown=300,
                    scale_out_cooldown=60,
                ),
                resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension,
                service_namespace=target.service_namespace,
                opts=child(self),
            )
