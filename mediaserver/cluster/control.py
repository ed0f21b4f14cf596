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
from mediaserver.cluster import proto
from mediaserver.cluster.metrics import cluster_registry
from mediaserver.cluster.remote import RemoteCalls, RemoteWebRtc, Workers
from mediaserver.config import Config
from mediaserver.dialer import Dialer
from mediaserver.store import Store
from mediaserver.transports.call import CallHandler
from mediaserver.transports.webrtc import WebRtcServer

log = logging.getLogger(__name__)


class ControlProcess:
    def __init__(self, init: proto.Initialize) -> None:
        self.config: Config = init.config
        self.workers = Workers(init.workers, init.secret)
        self.data_dir = Path(self.config.server.data_dir).resolve()
        self.plane: app.ControlPlane | None = None
        self.dialer: Dialer | None = None
        self.after: AfterCalls | None = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = self.config
        plane = self.plane = app.plane_on(Store(config.store_url), config)  # migrated already
        store, metrics = plane.store, plane.metrics
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a status poll every 0.5 s
        self.workers.start()
        book = AgentBook(configured(DEFAULT_AGENT, config.agent, config.models), store)
        ice = WebRtcServer(config.webrtc, config.jitter, CallHandler()).ice_servers()
        self.dialer = Dialer(
            RemoteCalls(self.workers, config.agent.max_call_seconds),
            book,
            metrics,
            trunk_host=config.sip.trunk_host,
            trunks={trunk.name: trunk.host for trunk in config.sip.trunks},
            per_trunk=config.sip.outbound_per_trunk,
            retries=config.sip.outbound_retries,
            retry_seconds=config.sip.outbound_retry_seconds,
        )
        # one scrape covers the whole cluster (cluster/metrics.py says why not multiprocess mode)
        metrics.registry = cluster_registry(metrics.registry, self.workers.metrics_texts)
        # the webhooks' outbox is delivered from here; the workers analyse their own calls
        self.after = AfterCalls.start(config, plane, None, None)
        http_app = app.create_http_app(
            config,
            plane,
            self.workers.ready,
            phone=(RemoteWebRtc(self.workers, ice), book),
            dialer=self.dialer,
            analyze=self.after.analyze,
        )
        self._http = uvicorn.Server(
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

    def calls(self) -> int:
        return 0

    def drain(self) -> None:
        """The workers refuse new calls; the dialer's queued calls wait for good."""

    async def stop(self) -> None:
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await asyncio.gather(self._http_task, return_exceptions=True)
        if self.dialer is not None:
            await self.dialer.close()
        if self.after is not None:
            await self.after.stop()
        await self.workers.close()
        if self.plane is not None:
            self.plane.close()
