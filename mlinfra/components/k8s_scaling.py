"""Pod autoscaling on EKS: one KEDA `ScaledObject` per autoscaled service, scaling on what the
serving runtime itself reports (requests in flight, request rate), on CPU for CPU services
and, when asked, on GPU utilisation from dcgm-exporter.

KEDA turns the ScaledObject into an HPA it owns (`keda-hpa-<service>`); the Deployment then
carries no `replicas`, so neither `pulumi up` nor KEDA undoes the other. A service without
`autoscaling` gets no ScaledObject and a fixed `replicas` on its Deployment.
"""

from __future__ import annotations

from mlinfra.serving import metric_names as m
from mlinfra.spec.service import Autoscaling, ServiceSpec

SCALED_OBJECT_API_VERSION = "keda.sh/v1alpha1"
SCALED_OBJECT_KIND = "ScaledObject"
# Prometheus scrapes the runtime every 30 s (the ServiceMonitor); a rate needs two samples.
RATE_WINDOW = "2m"
# KEDA asks Prometheus every 15 s; scale-down waits 5 minutes (model start-up is expensive),
# and a service allowed to reach zero waits as long after its last activity.
POLLING_INTERVAL_SECONDS = 15
SCALE_DOWN_STABILISATION_SECONDS = 300
COOLDOWN_SECONDS = 300


def scale_target_ref(api_version: str, kind: str, name: str) -> dict[str, str]:
    """What the ScaledObject scales: the service's workload (a Deployment today)."""
    return {"apiVersion": api_version, "kind": kind, "name": name}


def inflight_target(spec: ServiceSpec, scaling: Autoscaling) -> int:
    """In-flight requests per replica to aim for. Default: one full batch, because a replica
    holding more than `max_batch_size` requests has requests waiting for its next batch."""
    return scaling.target_inflight_requests or spec.max_batch_size


def autoscaling_of(spec: ServiceSpec) -> Autoscaling:
    if spec.autoscaling is None:
        raise ValueError(f"service {spec.name} has a fixed size: it gets no ScaledObject")
    return spec.autoscaling


def queries(spec: ServiceSpec, namespace: str) -> dict[str, str]:
    """The PromQL of each Prometheus trigger, by trigger name. The runtime's series carry the
    namespace of the pod Prometheus scraped; dcgm-exporter's carry the GPU pod's namespace
    (`honorLabels`, components/addons.py)."""
    scaling = autoscaling_of(spec)
    ns = f'namespace="{namespace}"'
    found = {"inflight": f"sum({m.INFLIGHT_REQUESTS}{{{ns}}})"}
    if scaling.target_requests_per_second is not None:
        # Inference requests only: refusals elsewhere (404s, health probes) are not load.
        found["requests-per-second"] = (
            f'sum(rate({m.REQUESTS_TOTAL}{{{ns},{m.LABEL_ROUTE}!="{m.ROUTE_OTHER}"}}[{RATE_WINDOW}]))'
        )
    if scaling.target_gpu_percent is not None:
        found["gpu-utilisation"] = f'avg({m.DCGM_GPU_UTIL}{{{m.LABEL_GPU_NAMESPACE}="{namespace}"}})'
    return found


def triggers(spec: ServiceSpec, namespace: str, prometheus_address: str) -> list[dict[str, object]]:
    """KEDA triggers; the HPA KEDA creates scales to the largest replica count any of them asks.

    `AverageValue` divides the query by the current replica count (a per-replica target);
    GPU utilisation is already an average over the service's GPUs, so it is a `Value`. Every
    metadata value is a string: the CRD's schema says so."""
    scaling = autoscaling_of(spec)
    thresholds = {
        "inflight": (inflight_target(spec, scaling), "AverageValue"),
        "requests-per-second": (scaling.target_requests_per_second, "AverageValue"),
        "gpu-utilisation": (scaling.target_gpu_percent, "Value"),
    }
    found: list[dict[str, object]] = []
    for name, query in queries(spec, namespace).items():
        threshold, metric_type = thresholds[name]
        found.append(
            {
                "type": "prometheus",
                "name": name,
                "metricType": metric_type,
                "metadata": {"serverAddress": prometheus_address, "query": query, "threshold": str(threshold)},
            }
        )
    if spec.gpu_type is None:
        # CPU is the wrong signal on a GPU service (its CPU idles while the GPU saturates).
        found.append(
            {
                "type": "cpu",
                "name": "cpu",
                "metricType": "Utilization",
                "metadata": {"value": str(scaling.target_cpu_percent)},
            }
        )
    return found


def scaled_object_spec(
    spec: ServiceSpec, namespace: str, target: dict[str, str], prometheus_address: str
) -> dict[str, object]:
    scaling = autoscaling_of(spec)
    return {
        "scaleTargetRef": target,
        "minReplicaCount": scaling.min_replicas,
        "maxReplicaCount": scaling.max_replicas,
        "pollingInterval": POLLING_INTERVAL_SECONDS,
        "cooldownPeriod": COOLDOWN_SECONDS,
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": SCALE_DOWN_STABILISATION_SECONDS}}
            }
        },
        "triggers": triggers(spec, namespace, prometheus_address),
    }
