"""The task definition of one model on ECS, as plain data (rendered, linted and tested as such).

Values that only exist after deployment (image digest, ARNs, the AMP endpoint) may be Pulumi
inputs inside the data; `pulumi.Output.json_dumps` turns the whole list into the JSON string
`aws.ecs.TaskDefinition` takes.
"""

from __future__ import annotations

import math
from typing import Any

import pulumi
import yaml

from mlinfra.components.contract import namespace, runtime_env
from mlinfra.serving.contract import HEALTH_PATH, METRICS_PATH, RUN_AS_UID, secret_env
from mlinfra.spec.ecs import (
    MAX_HEALTH_START_PERIOD_SECONDS,
    SIDECAR_CPU_UNITS,
    SIDECAR_MEMORY_MIB,
    cpu_units,
    stop_timeout_seconds,
)
from mlinfra.spec.service import ServiceSpec

MODEL_CONTAINER = "model"
COLLECTOR_CONTAINER = "metrics-collector"
SCRATCH_VOLUME = "scratch"


def ecs_environment(spec: ServiceSpec, alb_idle_timeout: int) -> list[dict[str, str]]:
    env = runtime_env(spec, alb_idle_timeout_s=alb_idle_timeout)
    return [{"name": k, "value": v} for k, v in sorted(env.items())]


def health_check(spec: ServiceSpec) -> dict[str, Any]:
    """Container health check on /health via the image's own Python (no curl in slim images).

    /health, not /ready: ECS replaces unhealthy tasks, and a replica that is only warming up
    must not be killed; the ALB's target health check gates traffic on /ready.
    """
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{spec.port}{HEALTH_PATH}', timeout=3)"
    return {
        "command": ["CMD", "python", "-c", probe],
        "interval": 15,
        "timeout": 5,
        "retries": 3,
        "startPeriod": min(spec.expected_load_seconds + 30, MAX_HEALTH_START_PERIOD_SECONDS),
    }


def collector_config(spec: ServiceSpec, stack: str, remote_write_url: str, region: str) -> str:
    """ADOT collector config: scrape the runtime's /metrics over loopback, remote-write to AMP.

    `job` / `service` / `namespace` labels match what the shared alert rules select on.
    """
    config = {
        "extensions": {
            "sigv4auth": {"region": region, "service": "aps"},
            "health_check": {"endpoint": "127.0.0.1:13133"},
        },
        "receivers": {
            "prometheus": {
                "config": {
                    "scrape_configs": [
                        {
                            "job_name": spec.name,
                            "scrape_interval": "30s",
                            "metrics_path": METRICS_PATH,
                            "static_configs": [
                                {
                                    "targets": [f"127.0.0.1:{spec.port}"],
                                    "labels": {"service": spec.name, "namespace": namespace(spec.name), "stack": stack},
                                }
                            ],
                        }
                    ]
                }
            }
        },
        "processors": {"batch": {"timeout": "30s"}},
        "exporters": {"prometheusremotewrite": {"endpoint": remote_write_url, "auth": {"authenticator": "sigv4auth"}}},
        "service": {
            "extensions": ["sigv4auth", "health_check"],
            "pipelines": {
                "metrics": {
                    "receivers": ["prometheus"],
                    "processors": ["batch"],
                    "exporters": ["prometheusremotewrite"],
                }
            },
            # The collector's own metrics on loopback only; `readers` replaced the `address`
            # key, deprecated since collector v0.111.0 (ADOT v0.43.3 is built on v0.117.0).
            "telemetry": {
                "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": 8888}}}}]}
            },
        },
    }
    return yaml.safe_dump(config, sort_keys=True)


def _log_configuration(log_group: pulumi.Input[str], region: str, prefix: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group,
            "awslogs-region": region,
            "awslogs-stream-prefix": prefix,
            # Never block the server on a slow log pipe; a bounded buffer drops instead.
            "mode": "non-blocking",
            "max-buffer-size": "25m",
        },
    }


def container_definitions(
    spec: ServiceSpec,
    *,
    stack: str,
    region: str,
    image: pulumi.Input[str],
    log_group: pulumi.Input[str],
    secret_arns: dict[str, pulumi.Input[str]],
    remote_write_url: pulumi.Input[str],
    collector_image: str,
    alb_idle_timeout: int,
) -> list[dict[str, Any]]:
    """The hardened model container plus the metrics collector sidecar."""
    user = f"{RUN_AS_UID}:{RUN_AS_UID}"
    task_units = cpu_units(spec.cpu) or 0
    model: dict[str, Any] = {
        "name": MODEL_CONTAINER,
        "image": image,
        "essential": True,
        "cpu": task_units - SIDECAR_CPU_UNITS,
        # Soft reservation: the task-level memory is the hard limit for both containers.
        "memoryReservation": spec.memory - SIDECAR_MEMORY_MIB,
        "portMappings": [{"containerPort": spec.port, "protocol": "tcp", "name": "http", "appProtocol": "http"}],
        "environment": ecs_environment(spec, alb_idle_timeout),
        "secrets": [{"name": secret_env(n), "valueFrom": secret_arns[n]} for n in sorted(secret_arns)],
        "user": user,
        "readonlyRootFilesystem": True,
        "privileged": False,
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
        "mountPoints": [{"sourceVolume": SCRATCH_VOLUME, "containerPath": "/tmp", "readOnly": False}],
        "healthCheck": health_check(spec),
        "stopTimeout": stop_timeout_seconds(spec),
        "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
        "logConfiguration": _log_configuration(log_group, region, MODEL_CONTAINER),
        "dockerLabels": {"mlinfra.service": spec.name, "mlinfra.stack": stack},
    }
    if spec.gpu_type is not None:
        model["resourceRequirements"] = [{"type": "GPU", "value": str(spec.gpu_count)}]
    collector: dict[str, Any] = {
        "name": COLLECTOR_CONTAINER,
        "image": collector_image,
        # Losing metrics must not take the model down with it.
        "essential": False,
        "cpu": SIDECAR_CPU_UNITS,
        "memory": SIDECAR_MEMORY_MIB,
        "environment": [
            {
                "name": "AOT_CONFIG_CONTENT",
                "value": pulumi.Output.from_input(remote_write_url).apply(
                    lambda url: collector_config(spec, stack, url, region)
                ),
            }
        ],
        "user": user,
        "readonlyRootFilesystem": True,
        "privileged": False,
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
        "mountPoints": [{"sourceVolume": SCRATCH_VOLUME, "containerPath": "/tmp", "readOnly": False}],
        "stopTimeout": stop_timeout_seconds(spec),
        "logConfiguration": _log_configuration(log_group, region, COLLECTOR_CONTAINER),
        "dependsOn": [{"containerName": MODEL_CONTAINER, "condition": "START"}],
    }
    return [model, collector]


def health_check_grace_seconds(spec: ServiceSpec) -> int:
    """ECS ignores ALB health for this long after a task starts: model load + a margin."""
    return spec.expected_load_seconds + 30 + math.ceil(spec.expected_load_seconds * 0.5)
