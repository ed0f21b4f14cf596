"""What runs beside the calls: the post-call analysis (where the models are:
the one process, or each cluster worker for its own calls) and the webhooks'
delivery (the one process, or the cluster's control process)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mediaserver.agents import AgentBook
from mediaserver.analysis.worker import AnalysisWorker
from mediaserver.config import Config
from mediaserver.netguard import NetGuard
from mediaserver.speech import Speech
from mediaserver.store.outbox import OutboxStore
from mediaserver.webhooks.delivery import Deliverer, RetryPolicy
from mediaserver.webhooks.outbox import CallEvents, Outbox

if TYPE_CHECKING:
    from mediaserver.app import ControlPlane
    from mediaserver.calls import SpeechSource


@dataclass
class AfterCalls:
    analysis: AnalysisWorker | None = None
    deliverer: Deliverer | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        config: Config,
        plane: ControlPlane,
        book: AgentBook | None,
        speech: SpeechSource | None,
        *,
        worker: str | None = None,
        deliver: bool = True,
    ) -> AfterCalls:
        """The calls `plane` records send their events; with `speech` (and the
        agents' `book`) they are analysed here (`worker`: only that cluster
        worker's calls); `deliver`: the outbox is delivered from here."""
        after = cls()
        events = CallEvents(Outbox(plane.store), config.webhooks.public_url)
        if speech is not None and book is not None:
            source, agents = speech, book

            async def speech_for(name: str) -> Speech:
                found = agents.get(name)
                return await source.for_agent(found[0] if found else agents.builtin)

            after.analysis = AnalysisWorker(
                plane.store,
                events,
                speech_for,
                config.analysis,
                busy=lambda: plane.records.live_calls > 0,
                worker=worker,
            )
            events.analyze = after.analysis.submit
            after.tasks.append(asyncio.create_task(after.analysis.run()))
        else:
            events.analyze = lambda call_id: None  # pending in the store: a worker's sweep
        plane.records.events = events
        if deliver:
            hooks = config.webhooks
            after.deliverer = Deliverer(
                OutboxStore(plane.store.engine),
                NetGuard(hooks.allow, setting="[webhooks] allow"),
                RetryPolicy(hooks.retry_base_seconds, hooks.retry_max_seconds, hooks.max_attempts),
                timeout_seconds=hooks.timeout_seconds,
                poll_seconds=hooks.poll_seconds,
            )
            after.tasks.append(asyncio.create_task(after.deliverer.run()))
        return after

    def analyze(self, call_id: str) -> None:
        """Analyse the call (stored as pending) here, or leave it to its worker's sweep."""
        if self.analysis is not None:
            self.analysis.submit(call_id)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
