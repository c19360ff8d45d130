"""Prometheus metrics on one registry owned by the server (never the global default)."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from mlinfra.serving import metric_names as m

LATENCY_BUCKETS = m.LATENCY_BUCKETS
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()


class Metrics:
    def __init__(self, model: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        ProcessCollector(registry=reg)  # RSS, CPU, fds: what capacity alerts need
        PlatformCollector(registry=reg)
        labels = (m.LABEL_MODEL, m.LABEL_ROUTE, m.LABEL_STATUS)
        self._requests = Counter(
            m.REQUESTS_TOTAL, "Inference requests by model, route and status.", labels, registry=reg
        )
        self._latency = Histogram(
            m.REQUEST_DURATION_SECONDS,
            "Inference request latency, receipt to response.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.inflight = Gauge(
            m.INFLIGHT_REQUESTS, "Inference requests being handled.", (m.LABEL_MODEL,), registry=reg
        ).labels(model)
        self._batch = Histogram(
            m.BATCH_SIZE,
            "Rows per model call.",
            (m.LABEL_MODEL,),
            buckets=BATCH_BUCKETS,
            registry=reg,
        ).labels(model)
        self._queue = Gauge(m.QUEUE_DEPTH, "Requests waiting for the model.", (m.LABEL_MODEL,), registry=reg).labels(
            model
        )
        self.load_seconds = Gauge(
            m.MODEL_LOAD_SECONDS,
            "Seconds to fetch, verify, load and warm the model.",
            (m.LABEL_MODEL,),
            registry=reg,
        ).labels(model)
        self.ready = Gauge(
            m.MODEL_READY,
            "1 when the model is loaded, warmed and not draining.",
            (m.LABEL_MODEL,),
            registry=reg,
        ).labels(model)
        self._model = model
        # Label lookups take a lock and a dict walk; cache the children per (route, status).
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._other: dict[int, Any] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        key = (route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self._requests.labels(self._model, route, str(status)),
                self._latency.labels(self._model, route, str(status)),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_other(self, status: int) -> None:
        """A refusal outside the inference routes: unknown path or method, or one the HTTP
        layer answers itself (malformed 400, 408, 413, 414, 431, connection cap 503)."""
        counter = self._other.get(status)
        if counter is None:
            counter = self._requests.labels(self._model, m.ROUTE_OTHER, str(status))
            self._other[status] = counter
        counter.inc()

    def observe_batch(self, rows: int) -> None:
        self._batch.observe(rows)

    def set_queue_depth(self, depth: int) -> None:
        self._queue.set(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)
