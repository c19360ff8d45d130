"""Adaptive micro-batching: concurrent requests share one model call.

A lone request is dispatched at once (no added latency). While the model is busy, new
requests queue up and the next call takes all of them (up to `max_batch` rows), so batch
size follows the load by itself. `max_wait_s` only applies when the previous call held more
than one request and more than one is already waiting, i.e. when waiting a moment is likely
to fill the batch further; a request that is alone in the queue is dispatched at once.

Where the model runs: a call that is known to be short (moving average below `inline_max_s`)
runs on the event loop thread. Handing it to a worker thread would cost two thread switches
and, worse, GIL hand-offs that wait up to the interpreter's 5 ms switch interval whenever
both threads want the GIL, which is slower than the call itself for small tabular models.
Slow calls go to the executor so /health, /ready and /metrics keep answering meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np

from mlinfra.serving.errors import HttpError

log = logging.getLogger("mlinfra.serving.batching")

Predict = Callable[[np.ndarray], np.ndarray]


class _Job:
    __slots__ = ("future", "timer", "x")

    def __init__(self, x: np.ndarray, future: asyncio.Future[np.ndarray]) -> None:
        self.x = x
        self.future = future
        self.timer: asyncio.TimerHandle | None = None


class Batcher:
    def __init__(
        self,
        predict: Predict,
        *,
        executor: Executor,
        workers: int,
        max_batch: int,
        max_wait_s: float,
        max_queue: int,
        on_batch: Callable[[int], None],
        on_queue_depth: Callable[[int], None],
        inline_max_s: float = 0.0,
        initial_call_s: float | None = None,
    ) -> None:
        self._predict = predict
        self._executor = executor
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._max_queue = max_queue
        self._on_batch = on_batch
        self._on_queue_depth = on_queue_depth
        self._queue: deque[_Job] = deque()
        self._wake = asyncio.Event()
        self._last_jobs = 0
        self._busy = 0
        self._inline_max_s = inline_max_s
        # Unknown cost: assume slow (executor) until a call has been timed.
        self._call_ema_s = initial_call_s if initial_call_s is not None else float("inf")
        self._tasks = [asyncio.ensure_future(self._worker()) for _ in range(workers)]

    @property
    def pending(self) -> int:
        """Requests queued or inside a running model call."""
        return len(self._queue) + self._busy

    def submit(self, x: np.ndarray, timeout_s: float) -> asyncio.Future[np.ndarray]:
        """Queue rows for the model. Fails fast with 429 when the queue is full."""
        if len(self._queue) >= self._max_queue:
            raise HttpError(429, "server is at capacity; retry shortly", retry_after=1)
        loop = asyncio.get_running_loop()
        job = _Job(x, loop.create_future())
        job.timer = loop.call_later(timeout_s, self._expire, job.future, timeout_s)
        self._queue.append(job)
        self._on_queue_depth(len(self._queue))
        self._wake.set()
        return job.future

    @staticmethod
    def _expire(future: asyncio.Future[np.ndarray], timeout_s: float) -> None:
        # The job may still be in a running batch; its result is then dropped.
        if not future.done():
            future.set_exception(
                HttpError(504, f"prediction did not finish within {timeout_s:g} s")
            )

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    def _take(self) -> list[_Job]:
        jobs: list[_Job] = []
        rows = 0
        width = -1
        while self._queue:
            job = self._queue[0]
            if job.future.done():  # timed out while queued: do not spend model time on it
                self._queue.popleft()
                continue
            n, w = job.x.shape
            # Rows of different widths cannot share an array (models without a fixed width).
            if jobs and (rows + n > self._max_batch or w != width):
                break
            self._queue.popleft()
            jobs.append(job)
            rows += n
            width = w
        self._on_queue_depth(len(self._queue))
        return jobs

    async def _worker(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            waiting = len(self._queue)
            if self._max_wait_s > 0 and self._last_jobs > 1 and 1 < waiting < self._max_batch:
                await asyncio.sleep(self._max_wait_s)
            jobs = self._take()
            if not jobs:
                continue
            self._last_jobs = len(jobs)
            self._busy += len(jobs)
            try:
                await self._run(jobs)
            finally:
                self._busy -= len(jobs)

    async def _run(self, jobs: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        x = jobs[0].x if len(jobs) == 1 else np.concatenate([j.x for j in jobs])
        self._on_batch(len(x))
        try:
            if self._call_ema_s < self._inline_max_s:
                started = time.perf_counter()
                y = self._predict(x)
            else:
                started = time.perf_counter()
                y = await loop.run_in_executor(self._executor, self._predict, x)
            self._record_call(time.perf_counter() - started)
            if len(y) != len(x):
                raise ValueError(f"model returned {len(y)} rows for {len(x)} inputs")
        except Exception as exc:
            if len(jobs) > 1:
                # One bad request must not fail its neighbours: retry each on its own.
                for job in jobs:
                    await self._run([job])
                return
            self._settle_error(jobs[0], exc)
            return
        offset = 0
        for job in jobs:
            n = len(job.x)
            if job.timer is not None:
                job.timer.cancel()
            if not job.future.done():
                job.future.set_result(y[offset : offset + n])
            offset += n

    def _record_call(self, seconds: float) -> None:
        if self._call_ema_s == float("inf"):
            self._call_ema_s = seconds
        else:
            self._call_ema_s += 0.2 * (seconds - self._call_ema_s)

    @staticmethod
    def _settle_error(job: _Job, exc: Exception) -> None:
        if job.timer is not None:
            job.timer.cancel()
        if job.future.done():
            return
        if isinstance(exc, (ValueError, TypeError, RuntimeError)):
            # The input passed our shape checks but the model refused it (e.g. a TorchScript
            # model of another width): the caller's fault, so 422 with the model's message.
            job.future.set_exception(HttpError(422, f"model rejected the input: {exc}"))
        else:
            log.error("model call failed", exc_info=exc)
            job.future.set_exception(HttpError(500, "model call failed"))
