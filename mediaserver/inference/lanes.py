"""A lane per model: a bounded priority queue and the one thread that runs
the model (a model is not safe to call from two threads at once).

Admission control is the bound: a request that finds the queue full of
requests not yet started is refused at once (Saturated), so callers in
progress are never slowed by new ones piling up. The rest of a request
already under way (a paused reply) is queued whatever the bound, and does
not count toward it. A lane with max_batch > 1 hands its worker every waiting
request at once (up to max_batch), after waiting batch_window_s for more to
join the first: what is queued behind a running batch goes in the next one.
Jobs of lower priority number go first; equal ones in arrival order."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

P = TypeVar("P")  # what a job carries to the model
R = TypeVar("R")  # what the model makes of it

log = logging.getLogger(__name__)


class Saturated(Exception):
    """The lane's queue is full: come back later (HTTP 503 + Retry-After)."""

    def __init__(self, lane: str, waiting: int) -> None:
        super().__init__(f"the {lane} model is saturated: {waiting} requests are already waiting")
        self.lane = lane


@dataclass(order=True)
class _Job(Generic[P]):
    key: tuple[int, int]
    payload: P = field(compare=False)
    future: Future[Any] = field(compare=False)
    admitted: bool = field(compare=False)


class Lane(Generic[P, R]):
    def __init__(
        self,
        name: str,
        run: Callable[[list[P]], list[R]],
        capacity: int,
        *,
        max_batch: int = 1,
        batch_window_s: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.capacity = capacity
        self.max_batch = max_batch
        self.batch_window_s = batch_window_s
        self.rejected = 0
        self._run = run
        self._on_batch = on_batch or (lambda size: None)
        self._heap: list[_Job[P]] = []
        self._new = 0  # jobs in the heap that are new requests (not admitted)
        self._cond = threading.Condition()
        self._order = itertools.count()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"lane-{name}", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        return len(self._heap)

    def waiting_before(self, priority: int) -> bool:
        """A job of a lower priority number than `priority` is waiting."""
        with self._cond:
            return bool(self._heap) and self._heap[0].key[0] < priority

    @property
    def saturated(self) -> bool:
        return self._new >= self.capacity

    def submit(self, payload: P, priority: int = 0, *, admitted: bool = False) -> Future[R]:
        """Queue a job (from any thread); Saturated if the queue is full, unless
        `admitted` (the rest of a request already under way)."""
        future: Future[R] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError(f"the {self.name} lane is closed")
            if not admitted and self._new >= self.capacity:
                self.rejected += 1
                raise Saturated(self.name, self._new)
            heapq.heappush(
                self._heap, _Job((priority, next(self._order)), payload, future, admitted)
            )
            self._new += not admitted
            self._cond.notify()
        return future

    async def run(self, payload: P, priority: int = 0, *, admitted: bool = False) -> R:
        """submit() and await the result; cancelling the await drops a job not yet started."""
        return await asyncio.wrap_future(self.submit(payload, priority, admitted=admitted))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for job in self._heap:
                job.future.cancel()
            self._heap.clear()
            self._new = 0
            self._cond.notify_all()

    def _next_batch(self) -> list[_Job[P]] | None:
        with self._cond:
            while not self._heap and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            if self.max_batch > 1 and self.batch_window_s > 0:
                deadline = time.monotonic() + self.batch_window_s
                while len(self._heap) < self.max_batch and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            count = min(len(self._heap), self.max_batch)
            jobs = [heapq.heappop(self._heap) for _ in range(count)]
            self._new -= sum(not job.admitted for job in jobs)
            return jobs

    def _work(self) -> None:
        while (jobs := self._next_batch()) is not None:
            live = [job for job in jobs if job.future.set_running_or_notify_cancel()]
            if not live:
                continue
            self._on_batch(len(live))
            try:
                results = self._run([job.payload for job in live])
            except Exception as exc:  # handed to each waiting request, which answers 500
                log.exception("%s model failed", self.name)
                for job in live:
                    job.future.set_exception(exc)
                continue
            for job, result in zip(live, results, strict=True):
                job.future.set_result(result)
