"""The single definition of every metric and label name the serving runtime exports.

Plain strings only (no prometheus_client import) so the SDK's alert rules and dashboards
can import them without pulling in the runtime.
"""

from __future__ import annotations

__all__ = [
    "ALL_METRICS",
    "BATCH_SIZE",
    "INFLIGHT_REQUESTS",
    "LABEL_MODEL",
    "LABEL_ROUTE",
    "LABEL_STATUS",
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

ALL_METRICS = (
    REQUESTS_TOTAL,
    REQUEST_DURATION_SECONDS,
    INFLIGHT_REQUESTS,
    BATCH_SIZE,
    QUEUE_DEPTH,
    MODEL_LOAD_SECONDS,
    MODEL_READY,
)
