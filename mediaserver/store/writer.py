"""One thread that applies the calls' writes to the store, in order, so the
event loop never waits on the database. The queue is bounded: when the
database falls far behind, writes are dropped and counted, never blocking.
An optional `tick` runs on the same thread every `tick_seconds` (the live
calls' heartbeat)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

QUEUE_WRITES = 10_000


class StoreWriter:
    def __init__(
        self,
        name: str = "store-writer",
        tick: Callable[[], object] | None = None,
        tick_seconds: float = 10.0,
    ) -> None:
        self.tick = tick
        self.tick_seconds = tick_seconds
        self.dropped = 0
        self.failed = 0
        self._queue: queue.Queue[Callable[[], object] | None] = queue.Queue(QUEUE_WRITES)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, write: Callable[[], object]) -> None:
        try:
            self._queue.put_nowait(write)
        except queue.Full:
            self.dropped += 1
            log.error("store writer %d writes behind: dropped one", QUEUE_WRITES)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every write submitted so far is applied."""
        done = threading.Event()
        self._queue.put(done.set, timeout=timeout)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        next_tick = time.monotonic() + self.tick_seconds
        while True:
            if self.tick is not None and time.monotonic() >= next_tick:
                self._apply(self.tick)
                next_tick = time.monotonic() + self.tick_seconds
            wait = None if self.tick is None else max(0.0, next_tick - time.monotonic())
            try:
                write = self._queue.get(timeout=wait)
            except queue.Empty:
                continue
            if write is None:
                return
            self._apply(write)

    def _apply(self, write: Callable[[], object]) -> None:
        try:
            write()
        except Exception:
            self.failed += 1
            log.exception("store write failed")
