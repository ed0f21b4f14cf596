"""`mediaserver serve --workers N`: the supervisor. It starts and watches the
inference service (one copy of the models, unless [models] names remote
engines), the media workers, the control process and Kamailio (the SIP
edge); restarts
whichever dies, with backoff, closing only a dead worker's calls as
unclean; and on SIGTERM or Ctrl-C drains (no new calls, calls in progress
finish up to cluster.drain_seconds) before it stops everything."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import socket
import time
from dataclasses import replace
from pathlib import Path

from mediaserver.cluster import kamailio_cfg, proto
from mediaserver.cluster.edge import Edge, edge_dir
from mediaserver.cluster.inference_role import workers_config
from mediaserver.cluster.process import ChildError, SupervisedProcess
from mediaserver.config import Config
from mediaserver.services import fixed
from mediaserver.store import Store
from mediaserver.webhooks.outbox import unclean_ended

log = logging.getLogger(__name__)

BACKOFF_FIRST, BACKOFF_MAX, HEALTHY_SECONDS = 0.5, 30.0, 60.0


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_sip_port() -> int:
    """A port free for UDP and TCP both: a worker's SIP listens on the two."""
    for _ in range(50):
        port = _free_port(socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no port free for both UDP and TCP")


def worker_addresses(config: Config) -> tuple[proto.WorkerAddress, ...]:
    """Each worker's ports, fixed for the cluster's life (the edge's list names them)."""
    host = config.cluster.media_address or config.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a wildcard: workers stay on loopback)
        host = "127.0.0.1"
    base = config.cluster.worker_port
    out = []
    for i in range(1, config.cluster.workers + 1):
        sip = base + i if base else _free_sip_port()
        http = base + 100 + i if base else _free_port(socket.SOCK_STREAM)
        out.append(proto.WorkerAddress(f"w{i}", host, sip, http))
    return tuple(out)


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.workers = worker_addresses(config)
        # [models] backend "local": one copy of the models, in the inference role
        self.inference = config.models.backend == "local" and not fixed.wanted()
        if self.inference and not config.inference.port:
            port = _free_port(socket.SOCK_STREAM)
            config = self.config = replace(config, inference=replace(config.inference, port=port))
        self.workers_config = workers_config(config) if self.inference else config
        self.secret = secrets.token_urlsafe(32)
        self.store: Store | None = None
        self.children: dict[str, SupervisedProcess] = {}
        self.edge: Edge | None = None
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def _child(self, role: str, me: proto.WorkerAddress | None = None) -> SupervisedProcess:
        config = self.config if role == "inference" else self.workers_config
        init = proto.Initialize(config, role, self.secret, self.workers, me)
        return SupervisedProcess(me.worker if me else role, init)

    async def run(self) -> None:
        config = self.config
        self.store = Store.open(config.store_url)  # migrated once, here, before any child
        ended = unclean_ended(self.store, config.webhooks.public_url)
        if unclean := self.store.close_unclean(on_closed=ended):
            log.warning("%d call(s) were not ended cleanly (server stopped mid-call)", unclean)
        files = kamailio_cfg.write(config, self.workers, edge_dir(config.server.data_dir))
        log.info("edge config: %s", files.config)
        try:
            if self.inference:  # first: the workers ask it for their phrases at start
                self.children["inference"] = self._child("inference")
                await self.children["inference"].start()
            for me in self.workers:
                self.children[me.worker] = self._child("worker", me)
            self.children["control"] = self._child("control")
            await asyncio.gather(
                *(c.start() for name, c in self.children.items() if name != "inference")
            )
            self.edge = Edge(files, config.server.host, config.server.sip_port)
            await self.edge.start()
            self._tasks = [asyncio.create_task(self._keep(c)) for c in self.children.values()]
            self._tasks.append(asyncio.create_task(self._keep_edge()))
            log.info(
                "cluster up: %d workers, SIP edge on %s:%d, HTTP on port %d",
                len(self.workers),
                config.server.host,
                config.server.sip_port,
                config.server.http_port,
            )
            await self.stopping.wait()
            await self._drain()
        finally:
            await self._stop_all()

    async def _keep(self, child: SupervisedProcess) -> None:
        """Watch the child; when it dies, restart it (with backoff) unless stopping."""
        backoff = BACKOFF_FIRST
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            started = loop.time()
            why = await child.watch()
            if self.stopping.is_set():
                return
            log.error("%s %s: restarting in %.1f s", child.name, why, backoff)
            if child.init.role == "worker" and self.store is not None:
                ended = unclean_ended(self.store, self.config.webhooks.public_url)
                closed = await loop.run_in_executor(
                    None, self.store.close_unclean, child.name, ended
                )
                log.warning("%s: %d call(s) closed as unclean", child.name, closed)
            if loop.time() - started > HEALTHY_SECONDS:
                backoff = BACKOFF_FIRST
            try:
                await asyncio.wait_for(self.stopping.wait(), backoff)
                return
            except TimeoutError:
                pass
            backoff = min(backoff * 2, BACKOFF_MAX)
            try:
                await child.start()
            except ChildError as exc:
                log.error("%s", exc)

    async def _keep_edge(self) -> None:
        backoff = BACKOFF_FIRST
        while not self.stopping.is_set() and self.edge is not None:
            code = await self.edge.wait()
            if self.stopping.is_set():
                return
            log.error("edge: kamailio exited (%d); restarting in %.1f s", code, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
            try:
                await self.edge.start()
            except kamailio_cfg.EdgeError as exc:
                log.error("%s", exc)

    async def _drain(self) -> None:
        """No new calls anywhere; wait for the calls in progress, up to drain_seconds."""
        workers = [c for c in self.children.values() if c.init.role == "worker"]
        drained_at = time.monotonic()
        for child in workers:
            child.send(proto.Drain())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.cluster.drain_seconds
        log.info("draining: waiting up to %d s for calls", self.config.cluster.drain_seconds)
        last = -1
        while loop.time() < deadline:
            alive = [c for c in workers if c.alive]
            if any(c.counted_at < drained_at for c in alive):
                await asyncio.sleep(0.2)  # a count from before the Drain may be stale
                continue
            busy = sum(c.calls for c in alive)
            if busy != last:
                log.info("draining: %d call(s) in progress", busy)
                last = busy
            if not busy:
                break
            await asyncio.sleep(0.5)
        else:
            log.warning("drain timed out: the calls left are ended")

    async def _stop_all(self) -> None:
        self.stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # the control first (no new offers), then the workers, their models, the edge
        if (control := self.children.get("control")) is not None:
            await control.stop(10.0)
        await asyncio.gather(
            *(c.stop(15.0) for c in self.children.values() if c.init.role == "worker")
        )
        if (inference := self.children.get("inference")) is not None:
            await inference.stop(10.0)
        if self.edge is not None:
            await self.edge.stop()
        if self.store is not None:
            self.store.close()
        _stop_resource_tracker()
        log.info("cluster stopped")


def _stop_resource_tracker() -> None:
    """multiprocessing's helper process (started with the first spawned child)
    would outlive us until it reads EOF: stop it with the rest."""
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None:
        stop()


def run(config: Config) -> None:
    """Serve the cluster until SIGTERM or SIGINT (both drain, then exit 0)."""
    Path(config.server.data_dir).mkdir(parents=True, exist_ok=True)

    async def main() -> None:
        supervisor = Supervisor(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, supervisor.stopping.set)
        await supervisor.run()

    asyncio.run(main())
