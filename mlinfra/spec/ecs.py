"""ECS platform settings (`mlinfra:ecs`) and the ECS facts the rules and components share
(Fargate sizes, sidecar budget, drain timings, listener-rule priorities).

The rules a service must meet to run on ECS are in `mlinfra.spec.platforms.ecs`.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, field_validator

from mlinfra.spec.base import StrictModel
from mlinfra.spec.capacity import GpuPool
from mlinfra.spec.rollout import Rollout
from mlinfra.spec.service import ServiceSpec

# Fargate task sizes AWS accepts: CPU units -> allowed memory in MiB (ECS developer guide,
# "Task CPU and memory"). 8 and 16 vCPU need platform version 1.4.0 or later, which LATEST is.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# The ADOT collector sidecar shares the task's network namespace (awsvpc), so the model
# server cannot listen on the collector's ports: the ALB would send traffic to the collector.
# 4317/4318 OTLP, 8888 collector self-metrics, 13133 health-check extension, 2000 X-Ray.
SIDECAR_PORTS = (2000, 4317, 4318, 8888, 13133)
# The collector's share of every task: taken out of the service's cpu/memory, not added.
SIDECAR_CPU_UNITS = 128
SIDECAR_MEMORY_MIB = 256
# ECS caps a container's stopTimeout at 120 s; SIGTERM to SIGKILL must cover the drain.
MAX_STOP_TIMEOUT_SECONDS = 120
DRAIN_MARGIN_SECONDS = 10
# ECS container health checks allow a start period of at most 300 s.
MAX_HEALTH_START_PERIOD_SECONDS = 300

_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-zA-Z-]{1,128}$")

AMI_PARAMETER_GPU = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
ADOT_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"


def gpu_ami_command(region: str) -> str:
    """The AWS CLI call that prints the AMI ECS currently recommends for GPU hosts."""
    return (
        f"aws ssm get-parameters --region {region} --names {AMI_PARAMETER_GPU} "
        "--query 'Parameters[0].Value' --output text"
    )


def gpus_per_instance(instance_type: str) -> int:
    """NVIDIA GPUs of a g4dn/g5/g6/g6e instance: 4 on 12xlarge and 24xlarge, 8 on 48xlarge and
    metal, 1 on every other size (EC2 accelerated-computing instance table)."""
    size = instance_type.split(".", 1)[1]
    return {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8, "metal": 8}.get(size, 1)


def cpu_units(millicores: int) -> int | None:
    """Millicores -> ECS CPU units (1 vCPU = 1024), or None if it is not a whole unit count."""
    units = millicores * 1024 / 1000
    return int(units) if units.is_integer() else None


def fargate_allowed(units: int | None, memory_mib: int) -> str | None:
    """None if (cpu units, memory) is a Fargate size, else what is allowed instead."""
    if units in FARGATE_SIZES and memory_mib in FARGATE_SIZES[units]:
        return None
    sizes = "; ".join(f"{format_vcpu(u)} vCPU ({u * 1000 // 1024}m): {_describe(m)}" for u, m in FARGATE_SIZES.items())
    if units in FARGATE_SIZES:
        return (
            f"Fargate does not offer {memory_mib} MiB with {format_vcpu(units)} vCPU; allowed memory: "
            f"{_describe(FARGATE_SIZES[units])}"
        )
    return f"not a Fargate task size; allowed cpu -> memory: {sizes}"


def format_vcpu(units: int) -> str:
    return f"{units / 1024:g}"


def _describe(memory: tuple[int, ...]) -> str:
    if len(memory) <= 4:
        return ", ".join(f"{m}Mi" for m in memory)
    step = memory[1] - memory[0]
    return f"{memory[0]}Mi-{memory[-1]}Mi in steps of {step}Mi"


class GpuCapacity(GpuPool):
    """An EC2 capacity provider of NVIDIA GPU instances (ECS GPU-optimised AMI).

    Default: 0-4 instances of the GPU's smallest size, scaled by ECS managed scaling. The first
    instance type is the launch template's; the rest are Auto Scaling overrides.
    """

    desired_size: Annotated[int, Field(ge=0, le=450)] = 0
    target_capacity_percent: Annotated[int, Field(ge=1, le=100)] = 100
    """Managed scaling target: 100 keeps no idle GPU host (default)."""


class AlbSettings(StrictModel):
    """The stack's shared Application Load Balancer(s)."""

    idle_timeout_seconds: Annotated[int, Field(ge=1, le=4000)] = 60
    """Default 60; the runtime's keep-alive is set 15 s longer so the ALB always closes first."""
    routing: Literal["host", "path"] = "host"
    """`host` (default): `<service>.<domain>`. `path`: `/<service>/...` on the stack's domain,
    with the prefix stripped by the listener rule before the request reaches the service."""
    access_logs_bucket: str | None = None
    """Default: a bucket created by the stack (SSE-S3, versioned, no public access)."""

    @field_validator("access_logs_bucket")
    @classmethod
    def _bucket(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", v):
            raise ValueError("must be an S3 bucket name (3-63 lowercase letters, digits, '.', '-')")
        return v


class AlertingSettings(StrictModel):
    """Where AMP's alert manager sends alerts. Default: a KMS-encrypted SNS topic of the stack."""

    sns_topic_arn: str | None = None

    @field_validator("sns_topic_arn")
    @classmethod
    def _arn(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$", v):
            raise ValueError("must be an SNS topic ARN: arn:aws:sns:<region>:<account>:<topic>")
        return v


class EcsSettings(StrictModel):
    """`mlinfra:ecs`: the ECS platform. Defaults are the secure ones (docs/architecture.md)."""

    container_insights: Literal["enabled", "enhanced"] = "enhanced"
    """Container Insights on the cluster (default: enhanced, per-task metrics)."""
    gpu_capacity: dict[str, GpuCapacity] = Field(default_factory=dict)
    """GPU EC2 capacity providers by name. Default: none, so a GPU service is refused."""
    gpu_ami_id: str | None = None
    """The ECS GPU-optimised AMI of the GPU hosts, required with `gpuCapacity`. Pinned, so a new
    AMI release never changes hosts by itself; bump it deliberately (`gpu_ami_command`), and the
    hosts are replaced by an instance refresh."""
    log_retention_days: Literal[7, 14, 30, 60, 90, 180, 365, 400, 545, 731] = 90
    alb: AlbSettings = Field(default_factory=AlbSettings)
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)
    collector_image: str = ADOT_IMAGE
    """ADOT collector sidecar image (default: a pinned aws-otel-collector release)."""
    secrets_kms_key_arns: tuple[str, ...] = ()
    """Customer KMS keys that encrypt the secrets under `mlinfra:secretArns`: task execution
    roles may decrypt with them, only through Secrets Manager. Default: none (AWS-managed key)."""

    @field_validator("secrets_kms_key_arns")
    @classmethod
    def _kms_arns(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in v if not _KMS_KEY_ARN.match(a)]
        if bad:
            raise ValueError(
                f"not KMS key ARNs: {bad}; allowed: arn:aws:kms:<region>:<account>:key/<key-id> "
                "(aliases do not work in IAM policies)"
            )
        return tuple(sorted(set(v)))

    @field_validator("gpu_ami_id")
    @classmethod
    def _ami(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$", v):
            raise ValueError("must be an AMI id such as ami-0123456789abcdef0")
        return v

    @field_validator("collector_image")
    @classmethod
    def _image(cls, v: str) -> str:
        # registry/repository[:tag][@sha256:digest], the forms an ECS container definition takes.
        if not re.match(r"^[a-z0-9][a-z0-9._/:-]*(@sha256:[0-9a-f]{64})?$", v) or v.endswith((":", "/")):
            raise ValueError(
                "must be a container image reference such as "
                "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.1"
            )
        return v

    @field_validator("gpu_capacity")
    @classmethod
    def _names(cls, v: dict[str, GpuCapacity]) -> dict[str, GpuCapacity]:
        bad = [n for n in v if not re.match(r"^[a-z][a-z0-9-]{0,19}$", n)]
        if bad:
            raise ValueError(f"capacity names must be lowercase labels of at most 20 characters, got {bad}")
        return dict(sorted(v.items()))

    def gpu_providers(self) -> dict[str, list[str]]:
        """GPU type -> capacity names that provide it."""
        out: dict[str, list[str]] = {}
        for name, cap in self.gpu_capacity.items():
            out.setdefault(cap.gpu_type, []).append(name)
        return out


def stop_timeout_seconds(spec: ServiceSpec) -> int:
    """SIGTERM -> SIGKILL: the runtime stops being ready, finishes in-flight requests, exits."""
    return math.ceil(spec.request_timeout_seconds) + DRAIN_MARGIN_SECONDS


def deregistration_delay_seconds(spec: ServiceSpec) -> int:
    """The ALB keeps in-flight requests of a draining target this long (longest request + 5 s)."""
    return math.ceil(spec.request_timeout_seconds) + 5


# What a rollout waits for besides the model's own load time (seconds): pulling the image
# on Fargate; launching and registering a GPU host (ECS managed scaling's instance warm-up);
# then the ALB's 2 healthy checks 10 s apart and the old task's deregistration.
IMAGE_PULL_ALLOWANCE_SECONDS = 180
GPU_HOST_LAUNCH_SECONDS = 300
ALB_HEALTHY_SECONDS = 2 * 10


def rollout_batches(spec: ServiceSpec) -> int:
    """How many waves of new tasks a rolling deployment of `spec` takes, at most.

    Fargate starts every new task at once (maximum 200%); GPU services replace tasks within
    the running count (maximum 100%), at worst one at a time (`deployment_percents`).
    """
    return 1 if spec.gpu_type is None else spec.max_replicas


def deployment_timeout_seconds(spec: ServiceSpec) -> int:
    """How long `pulumi up` waits for the ECS service to reach a steady state.

    Long enough for every wave to pull, load (`expected_load_seconds`), pass the ALB health
    check and drain the task it replaces; a rollout the circuit breaker rolls back fails the
    update instead of being reported as deployed.
    """
    wave = (
        IMAGE_PULL_ALLOWANCE_SECONDS
        + spec.expected_load_seconds
        + ALB_HEALTHY_SECONDS
        + deregistration_delay_seconds(spec)
    )
    if spec.gpu_type is not None:
        wave += GPU_HOST_LAUNCH_SECONDS
    # ECS's circuit breaker needs several failed tasks before it rolls back: give it a wave.
    # A canary or linear release also bakes at every step before ECS reports it steady.
    return (rollout_batches(spec) + 1) * wave + release_minutes(spec.delivery) * 60


def listener_rule_priority(service: str) -> int:
    """A stable listener-rule priority from the service name alone (1-50000), so adding or
    removing a service never renumbers another's rule."""
    digest = hashlib.sha256(service.encode()).hexdigest()
    return 1 + int(digest[:8], 16) % 50000


@dataclass(frozen=True)
class NativeDeployment:
    """An ECS deployment strategy (`deploymentConfiguration.strategy`) for a service's rollout."""

    strategy: Literal["ROLLING", "CANARY", "LINEAR", "BLUE_GREEN"]
    percent: float | None = None
    """CANARY: the canary's share; LINEAR: the share added per step."""


ECS_STEPS_ALLOWED = (
    "on ECS: one canary step then 100 (e.g. [10, 100], ECS CANARY), equal steps (e.g. "
    "[25, 50, 75, 100], ECS LINEAR, at least 3% each) or [100] (ECS BLUE_GREEN)"
)


def native_deployment(rollout: Rollout) -> NativeDeployment | None:
    """The ECS strategy that takes the rollout's steps exactly, or None when ECS has none."""
    steps = rollout.steps
    if rollout.strategy == "rolling":
        return NativeDeployment("ROLLING")
    if steps == (100,):
        return NativeDeployment("BLUE_GREEN")
    if len(steps) == 2:
        return NativeDeployment("CANARY", float(steps[0]))
    step = steps[0]
    if step >= 3 and steps == tuple(step * (i + 1) for i in range(len(steps))):
        return NativeDeployment("LINEAR", float(step))
    return None


def release_minutes(rollout: Rollout) -> int:
    """Minutes a healthy ECS release spends baking: per step, then once more at 100% before
    the old tasks go (ECS's `bakeTimeInMinutes`)."""
    native = native_deployment(rollout)
    if native is None or native.strategy == "ROLLING":
        return 0
    return rollout.total_minutes + rollout.bake_minutes
