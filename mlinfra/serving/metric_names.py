"""The single definition of every metric and label name the serving runtime exports.

Plain strings only (no prometheus_client import) so the SDK's alert rules and dashboards
can import them without pulling in the runtime.
"""

from __future__ import annotations

__all__ = [
    "ALL_METRICS",
    "BATCH_SIZE",
    "DCGM_FB_FREE",
    "DCGM_FB_USED",
    "DCGM_GPU_UTIL",
    "DCGM_METRICS",
    "INFLIGHT_REQUESTS",
    "LABEL_GPU_NAMESPACE",
    "LABEL_MODEL",
    "LABEL_ROUTE",
    "LABEL_STATUS",
    "LATENCY_BUCKETS",
    "MODEL_LOAD_SECONDS",
    "MODEL_READY",
    "QUEUE_DEPTH",
    "REQUESTS_TOTAL",
    "REQUEST_DURATION_SECONDS",
    "ROUTE_OTHER",
    "ROUTE_PREDICT",
    "ROUTE_V2_INFER",
]

# Counter, labels: model, route, status. Exposed as `mlinfra_requests_total`. Inference
# routes count every answer; route="other" counts refusals elsewhere (404, 405, and what the
# HTTP layer refuses before routing: 400, 408, 413, 414, 431, 503 at the connection cap).
REQUESTS_TOTAL = "mlinfra_requests_total"
# Histogram (seconds), labels: model, route, status. Series: _bucket, _sum, _count.
REQUEST_DURATION_SECONDS = "mlinfra_request_duration_seconds"
# The request-duration histogram's bucket bounds (seconds). Latency objectives must be one of
# them: a threshold between two bounds cannot be computed from the histogram.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Gauge, label: model. HTTP requests currently being handled (health/metrics excluded).
INFLIGHT_REQUESTS = "mlinfra_inflight_requests"
# Histogram (rows per model call), label: model.
BATCH_SIZE = "mlinfra_batch_size"
# Gauge, label: model. Requests waiting for the model (not yet in a running batch).
QUEUE_DEPTH = "mlinfra_queue_depth"
# Gauge (seconds), label: model. Time to fetch, verify, deserialise and warm the model.
MODEL_LOAD_SECONDS = "mlinfra_model_load_seconds"
# Gauge (0 or 1), label: model. 1 once the model is loaded and warmed and not draining.
MODEL_READY = "mlinfra_model_ready"

LABEL_MODEL = "model"
LABEL_ROUTE = "route"
LABEL_STATUS = "status"

# Values of the `route` label: templated so the label's cardinality stays bounded.
ROUTE_PREDICT = "/predict"
ROUTE_V2_INFER = "/v2/models/{name}/infer"
ROUTE_OTHER = "other"

# Exported by NVIDIA's dcgm-exporter on GPU nodes (EKS), not by the runtime. Its ServiceMonitor
# honours the exporter's labels (`honorLabels: true` in components/addons.py), so the GPU pod's
# namespace arrives as `namespace`, not renamed to `exported_namespace`.
DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"
DCGM_FB_FREE = "DCGM_FI_DEV_FB_FREE"
LABEL_GPU_NAMESPACE = "namespace"
DCGM_METRICS = (DCGM_GPU_UTIL, DCGM_FB_USED, DCGM_FB_FREE)

ALL_METRICS = (
    REQUESTS_TOTAL,
    REQUEST_DURATION_SECONDS,
    INFLIGHT_REQUESTS,
    BATCH_SIZE,
    QUEUE_DEPTH,
    MODEL_LOAD_SECONDS,
    MODEL_READY,
)
