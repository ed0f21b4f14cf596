"""The control process's composition root in a cluster: the HTTP API and
pages, the store, the dialer; browser offers and outbound calls go to the
workers (remote.py), /metrics and /readyz cover them all. It holds no call
and loads no model."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import uvicorn

from mediaserver import app
from mediaserver.after_calls import AfterCalls
from mediaserver.agents import DEFAULT_AGENT, AgentBook, configured
from mediaserver.campaigns.runner import CampaignRunner, runner_for
from mediaserver.cluster import kamailio_cfg, proto
from mediaserver.cluster.child import ChildHttp
from mediaserver.cluster.edge import edge_dir
from mediaserver.cluster.edge_trunks import EdgeTrunks
from mediaserver.cluster.metrics import cluster_registry
from mediaserver.cluster.remote import RemoteCalls, RemoteWebRtc, Workers
from mediaserver.config import Config
from mediaserver.dialer import Dialer
from mediaserver.knowledge import wiring
from mediaserver.knowledge.index import KnowledgeIndex
from mediaserver.knowledge.ingest import Ingest
from mediaserver.store import Store
from mediaserver.transports.call import CallHandler
from mediaserver.transports.webrtc import WebRtcServer
from mediaserver.webhooks.campaigns import campaign_events

log = logging.getLogger(__name__)


class ControlProcess:
    def __init__(self, init: proto.Initialize) -> None:
        self.config: Config = init.config
        self.workers = Workers(init.workers, init.secret)
        self.data_dir = Path(self.config.server.data_dir).resolve()
        self.plane: app.ControlPlane | None = None
        self.dialer: Dialer | None = None
        self.campaigns: CampaignRunner | None = None
        # registration trunks register at the edge: their state is Kamailio's
        self.trunks = EdgeTrunks(
            tuple(trunk.name for trunk in self.config.sip.trunks),
            kamailio_cfg.rpc_socket(edge_dir(self.config.server.data_dir)),
        )
        self.after: AfterCalls | None = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self.knowledge: tuple[Ingest, KnowledgeIndex] | None = None

    async def start(self) -> None:
        config = self.config
        plane = self.plane = app.plane_on(Store(config.store_url), config)  # migrated already
        store, metrics = plane.store, plane.metrics
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a status poll every 0.5 s
        self.workers.start()
        self.trunks.start()
        book = AgentBook(configured(DEFAULT_AGENT, config.agent, config.models), store)
        ice = WebRtcServer(config.webrtc, config.jitter, CallHandler()).ice_servers()
        self.dialer = app.dialer_for(
            config, RemoteCalls(self.workers, config.agent.max_call_seconds), book, plane
        )
        # campaigns run here, once for the cluster: a trunk's limit holds across workers
        self.campaigns = runner_for(self.dialer, store, campaign_events(store))
        self.campaigns.start()
        # one scrape covers the whole cluster (cluster/metrics.py says why not multiprocess mode)
        metrics.registry = cluster_registry(metrics.registry, self.workers.metrics_texts)
        if config.knowledge.enabled:  # uploads here; the workers retrieve (worker.py)
            self.knowledge = await wiring.knowledge_base(config, plane.store, book)
        # the webhooks' outbox is delivered from here; the workers analyse their own calls
        self.after = AfterCalls.start(config, plane, None, None)
        http_app = app.create_http_app(
            config,
            plane,
            lambda: {**self.workers.ready(), **self.trunks.ready()},
            ready_detail=lambda: {"workers": self.workers.taking()},
            hang_up=self._hang_up,
            phone=(RemoteWebRtc(self.workers, ice), book),
            dialer=self.dialer,
            knowledge=(self.knowledge[0], book) if self.knowledge is not None else None,
            trunk_states=lambda: self.trunks.states,
            analyze=self.after.analyze,
            wake_dialer=self.campaigns.wake,
        )
        self._http = ChildHttp(
            uvicorn.Config(
                http_app,
                host=config.server.host,
                port=config.server.http_port,
                log_level="warning",
                access_log=False,
            )
        )
        self._http_task = asyncio.create_task(self._http.serve())
        while not self._http.started:
            if self._http_task.done():
                raise OSError(f"could not listen on {config.server.host}:{config.server.http_port}")
            await asyncio.sleep(0.05)
        log.info("control: http://%s:%d", config.server.host, config.server.http_port)

    async def _hang_up(self, call_id: str) -> bool:
        if self.plane is None:
            return False
        record = await asyncio.to_thread(self.plane.store.get_call, call_id)
        if record is None or record["ended_at"] is not None or not record["worker"]:
            return False
        return await self.workers.hang_up(record["worker"], call_id)

    def calls(self) -> int:
        return 0

    def drain(self) -> None:
        """The workers refuse new calls; queued outbound calls (campaigns and
        POST /calls jobs alike) wait in the store for a worker that takes them."""

    async def stop(self) -> None:
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await asyncio.gather(self._http_task, return_exceptions=True)
        if self.campaigns is not None:
            await self.campaigns.close()
        if self.knowledge is not None:
            await self.knowledge[0].close()
            self.knowledge[1].close()
        if self.after is not None:
            await self.after.stop()
        await self.workers.close()
        await self.trunks.close()
        if self.plane is not None:
            self.plane.close()
