"""The analysis worker: one call at a time, on the control process's event
loop, with the model off it. Live calls go first: a call is analysed only
when none is live (or once it has waited `max_wait_seconds`). Calls wait in a
bounded queue; one that does not fit (counted in `dropped`) stays pending in
the store, where the periodic sweep finds it, as it finds those a restart
left pending."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.engine import Connection

from mediaserver.analysis.analyzer import analyse
from mediaserver.analysis.spec import for_call
from mediaserver.clock import now
from mediaserver.config import AnalysisConfig
from mediaserver.speech import Speech
from mediaserver.store import Store
from mediaserver.store.analysis import PENDING, pending_analyses, set_analysis
from mediaserver.webhooks.outbox import CallEvents, EventType

log = logging.getLogger(__name__)

QUIET_POLL_SECONDS = 0.5


class AnalysisWorker:
    def __init__(
        self,
        store: Store,
        events: CallEvents,
        speech_for: Callable[[str], Awaitable[Speech]],  # an agent's name -> its models
        config: AnalysisConfig,
        *,
        busy: Callable[[], bool],  # whether a live call may need the model now
        worker: str | None = None,  # a cluster worker analyses only its own calls
    ) -> None:
        self.worker = worker
        self.store = store
        self.events = events
        self.speech_for = speech_for
        self.config = config
        self.busy = busy
        self.dropped = 0
        self.analysed = 0
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str] = asyncio.Queue(config.queue)
        self._queued: set[str] = set()

    def submit(self, call_id: str) -> None:
        """Analyse the call (its analysis is stored as pending); from any thread."""
        try:
            self._loop.call_soon_threadsafe(self._put, call_id)
        except RuntimeError:  # the loop is closed (shutting down): the sweep finds it next time
            self.dropped += 1

    def _put(self, call_id: str) -> None:
        if call_id in self._queued:
            return
        try:
            self._queue.put_nowait(call_id)
        except asyncio.QueueFull:
            self.dropped += 1  # still pending in the store: the sweep brings it back
            return
        self._queued.add(call_id)

    async def run(self) -> None:
        """Analyse until cancelled."""
        while True:
            try:
                call_id = await asyncio.wait_for(self._queue.get(), self.config.sweep_seconds)
            except TimeoutError:
                await self._sweep()
                continue
            self._queued.discard(call_id)
            try:
                await self.analyse(call_id)
            except Exception:
                log.exception("analysis of call %s failed", call_id)

    async def _sweep(self) -> None:
        for call_id in await asyncio.to_thread(
            pending_analyses, self.store.engine, self.config.queue, self.worker
        ):
            self._put(call_id)

    async def _quiet(self) -> None:
        """Until no live call may need the model (or the longest wait is over)."""
        deadline = now() + self.config.max_wait_seconds
        # polled: live calls come and go in another object, which signals nothing
        while self.busy() and now() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(QUIET_POLL_SECONDS)

    async def analyse(self, call_id: str) -> dict[str, Any] | None:
        """Analyse the call if its analysis is pending; store the result and
        write the event that carries it, in one transaction."""
        await self._quiet()
        call = await asyncio.to_thread(self.store.get_call, call_id)
        pending = (call or {}).get("analysis") or {}
        if call is None or pending.get("status") != PENDING:
            return None
        spec = await asyncio.to_thread(for_call, self.store, call)
        if spec is None:
            result: dict[str, Any] = {"status": "failed", "reason": "the agent has no analysis"}
        else:
            try:
                speech = await self.speech_for(str(call["agent"]))
                result = await analyse(speech, spec, call["turns"], self.config.max_tokens)
            except Exception as exc:  # stored as failed: a sweep must not retry it forever
                log.exception("analysis of call %s", call_id)
                result = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:1000]}
        then: EventType = (
            "call.analyzed" if pending.get("then") == "call.analyzed" else "call.ended"
        )

        def write(c: Connection) -> None:
            self.events.analysed(c, {**call, "analysis": result}, then)

        await asyncio.to_thread(set_analysis, self.store.engine, call_id, result, write)
        self.analysed += 1
        log.info("call %s analysed: %s", call_id, result["status"])
        return result
