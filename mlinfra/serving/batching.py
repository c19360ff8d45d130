"""Adaptive micro-batching: concurrent requests share one model call.

A lone request is dispatched at once (no added latency). While the model is busy, new
requests queue up and the next call takes all of them (up to `max_batch` rows), so batch
size follows the load by itself. `max_wait_s` only applies when the previous call held more
than one request and more than one is already waiting, i.e. when waiting a moment is likely
to fill the batch further; a request that is alone in the queue is dispatched at once.

No model call ever holds more than `max_batch` rows: a request with more rows is cut into
slices, and after each slice the rest goes back to the end of the queue. So a big request
cannot hold the event loop (or the model) for long, requests behind it are served between
its slices, and once its deadline passes its remaining slices are never computed.

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

from mlinfra.serving.errors import DeadlineExceeded, InvalidInput, ModelFailed, Overloaded

log = logging.getLogger("mlinfra.serving.batching")

Predict = Callable[[np.ndarray], np.ndarray]


class _Job:
    """One request's rows; `taken` rows have been handed to model calls so far."""

    __slots__ = ("delivered", "future", "outputs", "taken", "timer", "x")

    def __init__(self, x: np.ndarray, future: asyncio.Future[np.ndarray]) -> None:
        self.x = x
        self.future = future
        self.timer: asyncio.TimerHandle | None = None
        self.taken = 0
        self.delivered = 0
        self.outputs: dict[int, np.ndarray] = {}  # slice start -> model output

    def deliver(self, start: int, y: np.ndarray) -> None:
        if self.future.done():
            return
        self.outputs[start] = y
        self.delivered += len(y)
        if self.delivered < len(self.x):
            return
        if self.timer is not None:
            self.timer.cancel()
        parts = [self.outputs[k] for k in sorted(self.outputs)]
        self.future.set_result(parts[0] if len(parts) == 1 else np.concatenate(parts))

    def fail(self, exc: Exception) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.future.done():
            self.future.set_exception(exc)


# A slice of a job in one model call: (job, first row, end row).
_Part = tuple[_Job, int, int]


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
        """Queue rows for the model. Fails fast with Overloaded (429) when the queue is full."""
        if len(self._queue) >= self._max_queue:
            raise Overloaded("server is at capacity; retry shortly")
        loop = asyncio.get_running_loop()
        job = _Job(x, loop.create_future())
        job.timer = loop.call_later(timeout_s, self._expire, job.future, timeout_s)
        self._queue.append(job)
        self._on_queue_depth(len(self._queue))
        self._wake.set()
        return job.future

    @staticmethod
    def _expire(future: asyncio.Future[np.ndarray], timeout_s: float) -> None:
        # The job may still be in a running call; its result is then dropped, and slices not
        # yet started are skipped.
        if not future.done():
            future.set_exception(DeadlineExceeded(f"prediction did not finish within {timeout_s:g} s"))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    def _take(self) -> list[_Part]:
        parts: list[_Part] = []
        rows = 0
        width = -1
        while self._queue and rows < self._max_batch:
            job = self._queue[0]
            if job.future.done():  # timed out (or failed) while queued: no model time for it
                self._queue.popleft()
                continue
            left = len(job.x) - job.taken
            # Rows of different widths cannot share an array (models without a fixed width);
            # a request that fits in one call is never cut to fill someone else's batch.
            if parts and (job.x.shape[1] != width or rows + left > self._max_batch):
                break
            self._queue.popleft()
            start = job.taken
            job.taken += min(left, self._max_batch - rows)
            parts.append((job, start, job.taken))
            rows += job.taken - start
            width = job.x.shape[1]
            if job.taken < len(job.x):
                self._queue.append(job)  # the rest waits its turn behind the others
                break
        self._on_queue_depth(len(self._queue))
        return parts

    async def _worker(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            waiting = len(self._queue)
            if self._max_wait_s > 0 and self._last_jobs > 1 and 1 < waiting < self._max_batch:
                await asyncio.sleep(self._max_wait_s)
            parts = self._take()
            if not parts:
                continue
            self._last_jobs = len(parts)
            self._busy += len(parts)
            try:
                inline = await self._run(parts)
            finally:
                self._busy -= len(parts)
            if inline and self._queue:
                # Let timers (deadlines) and other connections run between inline calls.
                await asyncio.sleep(0)

    async def _run(self, parts: list[_Part]) -> bool:
        """One model call for `parts`; returns whether it ran on the event loop thread."""
        loop = asyncio.get_running_loop()
        if len(parts) == 1:
            job, start, end = parts[0]
            x = job.x if (start, end) == (0, len(job.x)) else job.x[start:end]
        else:
            x = np.concatenate([job.x[start:end] for job, start, end in parts])
        self._on_batch(len(x))
        inline = self._call_ema_s < self._inline_max_s
        try:
            started = time.perf_counter()
            if inline:
                y = self._predict(x)
            else:
                y = await loop.run_in_executor(self._executor, self._predict, x)
            self._record_call(time.perf_counter() - started)
            if len(y) != len(x):
                raise ModelFailed(f"model returned {len(y)} rows for {len(x)} inputs")
        except Exception as exc:
            if len(parts) > 1:
                # One bad request must not fail its neighbours: retry each on its own.
                for part in parts:
                    await self._run([part])
                return inline
            if isinstance(exc, InvalidInput):  # the model names the caller's bad value (422)
                parts[0][0].fail(exc)
                return inline
            # Inputs passed the shape and type checks, so whatever else the model raises is a
            # failure of the model (or of its packaging), not the caller's: 500, logged.
            log.error("model call failed", exc_info=exc)
            parts[0][0].fail(ModelFailed("model call failed"))
            return inline
        offset = 0
        for job, start, end in parts:
            job.deliver(start, y[offset : offset + end - start])
            offset += end - start
        return inline

    def _record_call(self, seconds: float) -> None:
        if self._call_ema_s == float("inf"):
            self._call_ema_s = seconds
        else:
            self._call_ema_s += 0.2 * (seconds - self._call_ema_s)
