"""Routes and the model's lifecycle: load -> warm -> ready -> drain.

Request errors are `ServingError`s (serving/errors.py), turned into responses in
`error_response` only. Whatever else a request raises is a 500 with a logged traceback, and
every inference request is finished exactly once, so the in-flight count that SIGTERM's drain
waits on can never be left raised.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from mlinfra.serving import codec
from mlinfra.serving import metric_names as m
from mlinfra.serving.batching import Batcher
from mlinfra.serving.errors import (
    MethodNotAllowed,
    ModelFailed,
    NotFound,
    NotReady,
    ServingError,
    Unauthorized,
)
from mlinfra.serving.fetch import DownloadLimits, fetch_model, redact_uri
from mlinfra.serving.http import Request, Respond, Response
from mlinfra.serving.metrics import CONTENT_TYPE, Metrics
from mlinfra.serving.models import LoadedModel, load_model
from mlinfra.serving.settings import ServingSettings
from mlinfra.serving.version import __version__

log = logging.getLogger("mlinfra.serving")

_OK = Response(200, b'{"status":"ok"}')
_LIVE = Response(200, b'{"live":true}')
_SERVER_META = orjson.dumps({"name": "mlinfra", "version": __version__, "extensions": []})


class App:
    def __init__(self, settings: ServingSettings, metrics: Metrics, executor: Executor) -> None:
        self.settings = settings
        self.metrics = metrics
        self._executor = executor
        self._name = settings.model_name
        self._model: LoadedModel | None = None
        self._batcher: Batcher | None = None
        self._ready = False
        self._draining = False
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Compared as bytes: header values are latin-1 decoded, and compare_digest refuses
        # non-ASCII str (which would turn any odd byte into a 500 instead of a 401).
        self._api_keys = tuple(k.encode() for k in settings.api_key_set())
        self._output_dtype: np.dtype[Any] | None = None
        self._warmup_s: float | None = None
        self._debug = log.isEnabledFor(logging.DEBUG)
        self._routes: dict[tuple[str, str], Callable[[Request, Respond], None]] = {
            ("GET", "/health"): lambda _r, respond: respond(_OK),
            ("GET", "/v2/health/live"): lambda _r, respond: respond(_LIVE),
            ("GET", "/ready"): self._ready_route,
            ("GET", "/v2/health/ready"): self._ready_route,
            ("GET", "/metrics"): self._metrics_route,
            ("GET", "/v2"): lambda _r, respond: respond(Response(200, _SERVER_META)),
            ("POST", "/predict"): self._predict_route,
        }
        self._model_prefix = f"/v2/models/{self._name}"

    # -- lifecycle --------------------------------------------------------------------------
    async def load(self) -> None:
        """Fetch, verify, deserialise and warm the model off the event loop."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        self._model = await loop.run_in_executor(self._executor, self._load_blocking)
        self.metrics.load_seconds.set(time.perf_counter() - started)
        self._batcher = Batcher(
            self._model.predict,
            executor=self._executor,
            workers=self.settings.inference_threads,
            max_batch=self.settings.max_batch_size,
            max_wait_s=self.settings.max_batch_wait_ms / 1000.0,
            max_queue=self.settings.max_queue,
            on_batch=self.metrics.observe_batch,
            on_queue_depth=self.metrics.set_queue_depth,
            inline_max_s=self.settings.inline_max_ms / 1000.0,
            initial_call_s=self._warmup_s,
        )
        if not self._draining:
            self._ready = True
            self.metrics.ready.set(1)
        log.info(
            "model ready",
            extra={
                "fields": {
                    "framework": self._model.framework,
                    "load_seconds": round(time.perf_counter() - started, 3),
                }
            },
        )

    def _load_blocking(self) -> LoadedModel:
        s = self.settings
        path, digest = fetch_model(
            s.model_uri,
            Path(s.model_cache_dir),
            s.model_sha256,
            DownloadLimits(s.model_max_bytes, s.download_timeout_s),
        )
        log.info("model fetched", extra={"fields": {"uri": redact_uri(s.model_uri), "sha256": digest}})
        model = load_model(
            path,
            framework=s.framework,
            trusted_pickle=s.trusted_pickle,
            input_features=s.input_features,
            fast_trees=s.fast_trees,
        )
        if s.warmup and model.n_features is not None:
            # First calls pay for lazy init (thread pools, JIT, allocations); pay it before ready.
            row = model.warmup_row
            if row is None:
                row = np.zeros((1, model.n_features), dtype=model.input_dtype)
                try:
                    out = model.predict(row)
                except ValueError as exc:  # e.g. an encoder to which 0 is no category
                    log.warning(
                        "warm-up skipped: the model refuses a row of zeros",
                        extra={"fields": {"error": repr(exc)[:300]}},
                    )
                    return model
            else:
                out = model.predict(row)  # verified at build time: a failure is real
            self._output_dtype = out.dtype
            started = time.perf_counter()
            model.predict(row)  # the first call is not typical; time the second
            self._warmup_s = time.perf_counter() - started
        return model

    def begin_drain(self) -> None:
        self._draining = True
        self._ready = False
        self.metrics.ready.set(0)

    async def wait_idle(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()

    # -- routing ----------------------------------------------------------------------------
    def handle(self, req: Request, respond: Respond) -> None:
        method = "GET" if req.method == "HEAD" else req.method  # the protocol drops the body
        route = self._routes.get((method, req.path))
        if route is not None:
            route(req, respond)
            return
        if req.path.startswith("/v2/models/"):
            self._v2_model_routes(req, respond)
            return
        allowed = tuple(sorted(meth for (meth, p) in self._routes if p == req.path))
        if allowed:
            respond(self._refuse(MethodNotAllowed(f"{req.method} {req.path} is not served", allowed)))
        else:
            respond(self._refuse(NotFound(f"{req.method} {req.path} is not served")))

    def _refuse(self, exc: ServingError) -> Response:
        # Refusals outside the inference routes are counted too, on route="other".
        self.metrics.count_other(exc.status)
        return error_response(exc)

    def _ready_route(self, _req: Request, respond: Respond) -> None:
        if self._ready:
            respond(Response(200, b'{"ready":true}'))
        else:
            respond(Response(503, b'{"ready":false}', extra=((b"retry-after", b"1"),)))

    def _metrics_route(self, _req: Request, respond: Respond) -> None:
        respond(Response(200, self.metrics.render(), CONTENT_TYPE))

    def _v2_model_routes(self, req: Request, respond: Respond) -> None:
        prefix = self._model_prefix
        path = req.path
        method = "GET" if req.method == "HEAD" else req.method
        allowed: tuple[str, ...]
        if path == prefix or (path.startswith(prefix + "/versions/") and path.count("/") == 5):
            allowed = ("GET",)
            if method == "GET":
                respond(Response(200, self._model_metadata()))
                return
        elif path == prefix + "/ready":
            allowed = ("GET",)
            if method == "GET":
                self._ready_route(req, respond)
                return
        elif path == prefix + "/infer":
            allowed = ("POST",)
            if method == "POST":
                self._inference(req, respond, m.ROUTE_V2_INFER)
                return
        else:
            respond(self._refuse(NotFound(f"no model at {path}; this server serves {self._name!r}")))
            return
        respond(self._refuse(MethodNotAllowed(f"{req.method} {path} is not served", allowed)))

    def _model_metadata(self) -> bytes:
        model = self._model
        width = model.n_features if model and model.n_features else -1
        return orjson.dumps(
            {
                "name": self._name,
                "versions": [],
                "platform": f"mlinfra_{model.framework}" if model else "mlinfra",
                "inputs": [
                    {
                        "name": "input-0",
                        "datatype": codec.v2_datatype(model.input_dtype) if model else "FP32",
                        "shape": [-1, width],
                    }
                ],
                "outputs": [
                    {
                        "name": "output-0",
                        "datatype": codec.v2_datatype(self._output_dtype) if self._output_dtype else "FP64",
                        "shape": [-1],
                    }
                ],
            }
        )

    # -- inference --------------------------------------------------------------------------
    def _predict_route(self, req: Request, respond: Respond) -> None:
        self._inference(req, respond, m.ROUTE_PREDICT)

    def _inference(self, req: Request, respond: Respond, route: str) -> None:
        started = time.perf_counter()
        self._inflight += 1
        self._idle.clear()
        self.metrics.inflight.inc()
        finished = False

        def finish(resp: Response) -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            self._inflight -= 1
            self.metrics.inflight.dec()
            if self._inflight == 0:
                self._idle.set()
            elapsed = time.perf_counter() - started
            self.metrics.observe(route, resp.status, elapsed)
            if resp.status >= 500 and resp.status != 503:
                log.error("request failed", extra={"fields": _req_fields(req, resp, elapsed)})
            elif self._debug:
                log.debug("request", extra={"fields": _req_fields(req, resp, elapsed)})
            respond(resp)

        try:
            self._check_api_key(req)
            model, batcher = self._model, self._batcher
            # While draining, /ready says no, but what reaches us is still answered: it was
            # sent before the load balancer heard, or pipelined before the signal.
            if not (self._ready or self._draining) or model is None or batcher is None:
                raise NotReady("model is not ready")
            if route == m.ROUTE_PREDICT:
                x, single = codec.parse_predict(req.body, model.input_dtype, model.n_features)
                encode: Callable[[np.ndarray], bytes] = lambda y: codec.encode_predict(y, single)  # noqa: E731
            else:
                x, req_id = codec.parse_v2_infer(req.body, req.headers, model.input_dtype, model.n_features)
                encode = lambda y: codec.encode_v2_infer(self._name, y, req_id)  # noqa: E731
            future = batcher.submit(x, self.settings.request_timeout_s)
        except Exception as exc:  # every error must finish the request
            finish(error_response(_as_serving_error(exc)))
            return

        def done(fut: asyncio.Future[np.ndarray]) -> None:
            try:
                exc = fut.exception()
                body = encode(fut.result()) if exc is None else None
            except Exception as failure:  # e.g. an output orjson cannot encode
                exc = failure
            if exc is None and body is not None:
                finish(Response(200, body))
            else:
                finish(error_response(_as_serving_error(exc)))

        future.add_done_callback(done)

    def _check_api_key(self, req: Request) -> None:
        if not self._api_keys:
            return
        given = req.headers.get("x-api-key")
        auth = req.headers.get("authorization", "")
        if given is None and auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        if given is None:
            raise Unauthorized("missing or invalid API key")
        raw = given.encode("latin-1")  # the header's own bytes (decoded as latin-1 on receipt)
        # Every key is compared (no early exit), so timing does not tell which one is close.
        matches = [hmac.compare_digest(raw, key) for key in self._api_keys]
        if not any(matches):
            raise Unauthorized("missing or invalid API key")


def _as_serving_error(exc: BaseException | None) -> ServingError:
    if isinstance(exc, ServingError):
        return exc
    # Not a domain error: a bug. Log the traceback; the client learns only that it failed.
    log.error("request failed unexpectedly", exc_info=exc)
    return ModelFailed("prediction failed")


def error_response(exc: ServingError) -> Response:
    """The one place a domain error becomes an HTTP status (and its headers)."""
    extra: tuple[tuple[bytes, bytes], ...] = ()
    if exc.retry_after is not None:
        extra = ((b"retry-after", str(exc.retry_after).encode()),)
    if isinstance(exc, MethodNotAllowed):
        extra = (*extra, (b"allow", ", ".join(exc.allow).encode()))
    return Response(exc.status, orjson.dumps({"error": exc.message}), extra=extra)


def _req_fields(req: Request, resp: Response, elapsed: float) -> dict[str, Any]:
    return {
        "method": req.method,
        "path": req.path,
        "status": resp.status,
        "duration_ms": round(elapsed * 1000, 3),
    }
