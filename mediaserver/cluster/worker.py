"""A media worker's composition root: a pjsua2 endpoint on its own loopback
SIP port (the edge's dispatcher sends it <= calls_per_worker calls), the
browser sessions the control process places on it, and a loopback HTTP
port for the control process (worker_api.py). Call records go to the
shared store, each marked with this worker's id."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import uvicorn

from mediaserver import app
from mediaserver.after_calls import AfterCalls
from mediaserver.agents import DEFAULT_AGENT, Agent, AgentBook, configured
from mediaserver.calllog import Records
from mediaserver.calls import Calls, OneSpeech, SpeechSource
from mediaserver.cluster import proto
from mediaserver.cluster.child import ChildHttp
from mediaserver.cluster.worker_api import worker_app
from mediaserver.config import Config
from mediaserver.knowledge import wiring
from mediaserver.knowledge.index import KnowledgeIndex
from mediaserver.services.remote_embed import RemoteEmbedders
from mediaserver.store import Store
from mediaserver.tools.runners import ToolRunners
from mediaserver.transports.sip import SipServer
from mediaserver.transports.webrtc import WebRtcServer

log = logging.getLogger(__name__)


async def speech_source(config: Config, agent: Agent) -> tuple[SpeechSource, object]:
    """The one place a worker gets its Speech port: (the source, what to close).
    `[models] backend = "remote"`: the inference service's client (one copy of
    the models for every worker); "local": this worker's own copy."""
    from mediaserver.services import fixed

    if fixed.wanted():
        log.warning("speech: the FIXED-ANSWER fake (%s is set: tests and bench only)", fixed.ENV)
        return OneSpeech(fixed.FixedSpeech()), None
    pool = await app.speech_pool(config, agent)
    return pool, pool


class MediaWorker:
    def __init__(self, init: proto.Initialize) -> None:
        if init.me is None:
            raise ValueError("a worker needs its address")
        self.config: Config = init.config
        self.me: proto.WorkerAddress = init.me
        self.secret = init.secret
        self.draining = False
        self.data_dir = Path(self.config.server.data_dir).resolve()
        self.store: Store | None = None
        self.records: Records | None = None
        self.calls_: Calls | None = None
        self.sip: SipServer | None = None
        self.browser: WebRtcServer | None = None
        self._speech_owner: object = None
        self.knowledge: KnowledgeIndex | None = None
        self.after: AfterCalls | None = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config, me = self.config, self.me
        loop = asyncio.get_running_loop()
        plane = app.plane_on(Store(config.store_url), config, me.worker)  # migrated already
        self.store, self.records, metrics = plane.store, plane.records, plane.metrics
        book = AgentBook(configured(DEFAULT_AGENT, config.agent, config.models), self.store)
        source, self._speech_owner = await speech_source(config, book.builtin)
        if config.knowledge.enabled and config.models.backend == "remote":
            # the agent's chunks from the shared store, the caller's words embedded by the service
            self.knowledge = wiring.retrieval_index(config, self.store)
        calls = self.calls_ = Calls(
            book,
            source,
            config.vad,
            records=self.records,
            data_dir=self.data_dir,
            routes={route.number: route.agent for route in config.sip.routes},
            knowledge=self.knowledge,
            tools=ToolRunners(config.tools, self.store),
        )
        # only the edge (and our own box) reaches this port; trunks register at the edge
        sip_config = dataclasses.replace(
            config.sip,
            allow=("127.0.0.0/8", "::1/128", f"{me.host}/32"),
            trunks=(),
            max_calls=config.cluster.calls_per_worker,
        )
        self.sip = SipServer(sip_config, me.host, me.sip_port, calls, loop)
        calls.transports["sip"] = self.sip
        self.browser = WebRtcServer(config.webrtc, config.jitter, calls)
        calls.transports["webrtc"] = self.browser
        # this worker's calls are analysed here; the control process delivers their events
        self.after = AfterCalls.start(config, plane, book, source, worker=me.worker, deliver=False)
        await self.sip.start()
        http_app = worker_app(self, metrics)
        self._http = ChildHttp(
            uvicorn.Config(http_app, host="127.0.0.1", port=me.http_port, log_level="warning")
        )
        self._http_task = asyncio.create_task(self._http.serve())
        while not self._http.started:
            if self._http_task.done():
                raise OSError(f"worker HTTP could not listen on 127.0.0.1:{me.http_port}")
            await asyncio.sleep(0.05)
        log.info("worker %s: SIP %s:%d, HTTP %d", me.worker, me.host, me.sip_port, me.http_port)

    def sip_calls(self) -> int:
        return len(self.sip.calls) if self.sip is not None else 0

    def webrtc_calls(self) -> int:
        return len(self.browser.calls) if self.browser is not None else 0

    def calls(self) -> int:
        return self.sip_calls() + self.webrtc_calls()

    def drain(self) -> None:
        """No new calls: INVITEs get 503 (the edge tries another worker), offers 503."""
        self.draining = True
        if self.sip is not None:
            self.sip.refusing = True

    async def stop(self) -> None:
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await asyncio.gather(self._http_task, return_exceptions=True)
        if self.browser is not None:
            await self.browser.stop()
        if self.calls_ is not None:
            await self.calls_.close()
        if self.sip is not None:
            await self.sip.stop()
        if self.after is not None:
            await self.after.stop()
        if self.knowledge is not None:
            self.knowledge.close()
            if isinstance(self.knowledge.embedders, RemoteEmbedders):
                await self.knowledge.embedders.aclose()
        close = getattr(self._speech_owner, "aclose", None)
        if close is not None:
            await close()
        if self.records is not None:
            self.records.close()
        if self.store is not None:
            self.store.close()
