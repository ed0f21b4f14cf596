"""The composition root: builds the object graph from a Config and runs it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI

from mediaserver import __version__, numbers
from mediaserver.agents import AgentBook
from mediaserver.announce import AnnouncingServer, announce
from mediaserver.api import (
    agents,
    analytics,
    campaigns,
    documents,
    health,
    live,
    metrics,
    outbound,
    pages,
    tokens,
    trunks,
    twilio,
    webhooks,
    webrtc,
    ws_audio,
)
from mediaserver.api import analysis as call_analysis
from mediaserver.api import auth as who
from mediaserver.api import calls as call_records
from mediaserver.api.auth import Auth, CallTokens, FailedAuth, RateLimiter
from mediaserver.api.guard import RequestGuard, guarded_protocol
from mediaserver.calllog import Records
from mediaserver.campaigns.one_call import CallRules
from mediaserver.campaigns.runner import runner_for
from mediaserver.config import Config
from mediaserver.dialer import Dialer, Dials
from mediaserver.knowledge.wiring import knowledge_base
from mediaserver.metrics import Metrics
from mediaserver.netguard import NetGuard
from mediaserver.store import Store
from mediaserver.store.call_jobs import CallJobs
from mediaserver.store.campaigns import CampaignStore
from mediaserver.store.outbox import OutboxStore
from mediaserver.transports.sip import SipServer, TrunkStatus
from mediaserver.transports.webrtc import WebRtcServer
from mediaserver.transports.websocket_call import SocketServer
from mediaserver.webhooks.campaigns import campaign_events
from mediaserver.webhooks.outbox import unclean_ended

if TYPE_CHECKING:
    from mediaserver.agents import Agent
    from mediaserver.knowledge.ingest import Ingest
    from mediaserver.services.pool import SpeechPool
    from mediaserver.services.remote_pool import RemotePool

log = logging.getLogger("mediaserver")


@dataclass
class ControlPlane:
    """The store and what stands on it: call records, metrics, API auth, call tokens."""

    store: Store
    metrics: Metrics
    records: Records
    auth: Auth
    tokens: CallTokens
    data_dir: Path  # recordings under it

    def close(self) -> None:
        self.records.close()
        self.store.close()


def control_plane(config: Config) -> ControlPlane:
    """Open (and migrate) the store; calls a killed server left open are closed as unclean."""
    store = Store.open(config.store_url)
    if unclean := store.close_unclean(on_closed=unclean_ended(store, config.webhooks.public_url)):
        log.warning("%d call(s) were not ended cleanly (server stopped mid-call)", unclean)
    return plane_on(store, config)


def plane_on(store: Store, config: Config, worker: str = "") -> ControlPlane:
    """The control plane on an open store (a cluster's processes share one;
    `worker`: the media worker whose calls these records are)."""
    metrics = Metrics()
    api = config.api
    data_dir = Path(config.server.data_dir).resolve()
    tokens = CallTokens(store, api.token_ttl_seconds, api.token_secret, data_dir)
    number_key = hashlib.sha256(b"stored numbers " + tokens.secret.encode()).digest()
    policy = numbers.policy(api.store_numbers, number_key)
    return ControlPlane(
        store=store,
        metrics=metrics,
        records=Records(store, metrics, policy, worker=worker),
        auth=Auth(
            store,
            RateLimiter(api.rate_per_second, api.rate_burst),
            FailedAuth(api.auth_failures, api.auth_failure_window_seconds),
            tokens,
        ),
        tokens=tokens,
        data_dir=data_dir,
    )


def create_http_app(
    config: Config,
    plane: ControlPlane,
    ready: Callable[[], dict[str, bool]],
    *,
    ready_detail: Callable[[], dict[str, Any]] | None = None,
    phone: tuple[webrtc.Phone, AgentBook] | None = None,
    dialer: Dialer | None = None,
    sip: SipServer | None = None,
    sockets: Sockets | None = None,
    hang_up: live.HangUp | None = None,
    knowledge: tuple[Ingest, AgentBook] | None = None,
    trunk_states: Callable[[], Mapping[str, TrunkStatus]] | None = None,
    analyze: Callable[[str], None] | None = None,
    wake_dialer: Callable[[], None] = lambda: None,
) -> FastAPI:
    """The HTTP side; `phone` (the WebRTC transport and the agents) adds /webrtc,
    `dialer` adds POST /calls, `sockets` adds /ws/audio and (when configured) /twilio;
    `hang_up` (a call record id -> whether it was live) lets an admin end a call;
    `knowledge` (uploads, and the agents) adds /agents/{name}/documents;
    `trunk_states` adds /trunks where `sip` does not (a cluster: the edge's trunks);

    `analyze` (the analysis worker's submit) adds POST /calls/{id}/analysis;
    `wake_dialer` (the campaign runner's wake) dials a new POST /calls job at once."""
    app = FastAPI(title="mediaserver", version=__version__, max_body_size=config.api.max_body_bytes)
    app.add_middleware(
        RequestGuard, auth=plane.auth, timeout=float(config.api.request_timeout_seconds)
    )
    app.include_router(health.router(plane.auth, ready, ready_detail))
    app.include_router(agents.router(plane.store, plane.auth))
    if knowledge is not None:
        app.include_router(documents.router(knowledge[0], knowledge[1], plane.auth))
    if sip is not None:
        app.include_router(trunks.router(lambda: sip.trunks, plane.auth))
    elif trunk_states is not None:
        app.include_router(trunks.router(trunk_states, plane.auth))
    if dialer is not None:  # before /calls/{id}
        app.include_router(outbound.router(dialer, CallJobs(plane.store), plane.auth, wake_dialer))
        app.include_router(
            campaigns.router(CampaignStore(plane.store), plane.auth, dialer.book, dialer)
        )
    if analyze is not None:
        app.include_router(call_analysis.router(plane.store, plane.auth, analyze))
    app.include_router(call_records.router(plane.store, plane.auth, plane.data_dir / "recordings"))
    app.include_router(
        webhooks.router(
            OutboxStore(plane.store.engine),
            NetGuard(config.webhooks.allow, setting="[webhooks] allow"),
            plane.auth,
        )
    )
    app.include_router(analytics.router(plane.store, plane.auth))
    app.include_router(live.router(plane.store, plane.auth, hang_up))
    app.include_router(tokens.router(plane.tokens, plane.auth))
    app.include_router(who.router(plane.auth))
    app.include_router(metrics.router(plane.metrics, plane.auth))
    if phone is not None:
        app.include_router(webrtc.router(phone[0], plane.auth, phone[1]))
    if sockets is not None:
        app.include_router(ws_audio.router(sockets.apps, plane.auth, sockets.book))
        if sockets.twilio is not None:
            app.include_router(
                twilio.router(config.twilio, sockets.twilio, sockets.book, sockets.routes)
            )
    app.include_router(pages.router())
    app.mount("/ui", pages.static(), name="ui")
    return app


@dataclass
class Sockets:
    """The WebSocket transports: /ws/audio for apps, Twilio Media Streams if configured."""

    apps: SocketServer
    twilio: SocketServer | None
    book: AgentBook
    routes: dict[str, str]  # called number -> agent, as for SIP

    async def stop(self) -> None:
        await self.apps.stop()
        if self.twilio is not None:
            await self.twilio.stop()


async def serve(config: Config, plane: ControlPlane) -> None:
    """Run the server until SIGINT or SIGTERM."""
    from mediaserver.after_calls import AfterCalls
    from mediaserver.agents import DEFAULT_AGENT, configured
    from mediaserver.calls import Calls
    from mediaserver.media.end_of_turn import turn_model
    from mediaserver.tools.runners import ToolRunners

    loop = asyncio.get_running_loop()
    book = AgentBook(configured(DEFAULT_AGENT, config.agent, config.models), plane.store)
    agent = book.builtin
    state = {"models": False, "sip": False}
    pool = await speech_pool(config, agent)
    knowledge = (
        await knowledge_base(config, plane.store, book) if config.knowledge.enabled else None
    )
    state["models"] = True
    calls = Calls(
        book,
        pool,
        config.vad,
        records=plane.records,
        data_dir=plane.data_dir,
        routes={route.number: route.agent for route in config.sip.routes},
        turn_model=turn_model(config.vad, config.models),
        knowledge=knowledge[1] if knowledge is not None else None,
        tools=ToolRunners(config.tools, plane.store),
    )
    sip = SipServer(config.sip, config.server.host, config.server.sip_port, calls, loop)
    browser = WebRtcServer(config.webrtc, config.jitter, calls)
    sockets = Sockets(
        SocketServer(config.websocket, calls, config.websocket.max_calls),
        SocketServer(config.websocket, calls, config.twilio.max_calls)
        if config.twilio.enabled
        else None,
        book,
        calls.routes,
    )
    calls.transports.update(sip=sip, webrtc=browser, websocket=sockets.apps)
    if sockets.twilio is not None:
        calls.transports["twilio"] = sockets.twilio
    dialer = dialer_for(config, calls, book, plane)
    after_calls = AfterCalls.start(config, plane, book, pool)
    await sip.start()
    state["sip"] = True
    campaign_runner = runner_for(dialer, plane.store, campaign_events(plane.store))
    campaign_runner.start()

    def ready() -> dict[str, bool]:
        trunks = {f"trunk {name}": t.registered for name, t in sip.trunks.items()}
        return {**state, **trunks}

    http = AnnouncingServer(
        lambda: announce(config, plane.tokens),
        uvicorn.Config(
            create_http_app(
                config,
                plane,
                ready,
                phone=(browser, book),
                dialer=dialer,
                sip=sip,
                sockets=sockets,
                hang_up=calls.hang_up_now,
                knowledge=(knowledge[0], book) if knowledge is not None else None,
                analyze=after_calls.analyze,
                wake_dialer=campaign_runner.wake,
            ),
            host=config.server.host,
            port=config.server.http_port,
            log_level="info",
            access_log=False,
            http=guarded_protocol(config.api.request_timeout_seconds),
            timeout_keep_alive=config.api.keep_alive_seconds,
            limit_concurrency=config.api.max_connections,
            # what one WebSocket message may buffer (uvicorn's default: 16 MiB); up to
            # this, an oversized message is closed with our reason (1009)
            ws_max_size=4 * config.websocket.max_message_bytes,
        ),
    )
    log.info(
        "mediaserver %s: http://%s:%d, SIP on port %d",
        __version__,
        config.server.host,
        config.server.http_port,
        config.server.sip_port,
    )
    try:
        await http.serve()
    except SystemExit:  # uvicorn's way of saying that start-up failed
        http.started = False
    finally:
        await campaign_runner.close()
        await after_calls.stop()
        await browser.stop()
        await sockets.stop()
        await calls.close()
        await sip.stop()
        await pool.aclose()
        if knowledge is not None:
            await knowledge[0].close()
            knowledge[1].close()
    if not http.started:
        raise OSError(f"could not listen on {config.server.host}:{config.server.http_port}")


def dialer_for(config: Config, dials: Dials, book: AgentBook, plane: ControlPlane) -> Dialer:
    """Outbound calls: trunks, per-trunk limits, POST /calls' retries."""
    return Dialer(
        dials,
        book,
        plane.metrics,
        trunk_host=config.sip.trunk_host,
        trunks={trunk.name: trunk.host for trunk in config.sip.trunks},
        per_trunk=config.sip.outbound_per_trunk,
        rules=CallRules(
            retries=config.sip.outbound_retries, retry_seconds=config.sip.outbound_retry_seconds
        ),
    )


async def speech_pool(config: Config, agent: Agent) -> SpeechPool | RemotePool:
    """The models: loaded here (backend "local"), or an HTTP client of the
    inference service (backend "remote")."""
    from mediaserver.services.factory import local_speech
    from mediaserver.services.pool import SpeechPool
    from mediaserver.services.remote_pool import RemotePool

    models = config.models
    if models.backend == "remote":
        log.info(
            "models over HTTP: %s", ", ".join(models.endpoint(r) for r in ("stt", "llm", "tts"))
        )
        remote = RemotePool(models)
        await remote.start(agent)
        return remote
    speech = local_speech(models, agent.language)
    log.info("loading models (%s, %s, %s on %s)", models.stt, models.llm, models.tts, models.device)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, speech.load, agent.system_prompt, agent.greeting)
    return SpeechPool(models, speech)


class _Stop(Exception):
    """SIGTERM arrived: leave like Ctrl-C does."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run(config: Config) -> None:
    """Serve until SIGINT or SIGTERM; both end the process normally (exit 0).

    uvicorn shuts down on either signal and then re-raises it to the handler
    that was there before: this one, so SIGTERM is not a kill.
    """
    Path(config.server.data_dir).mkdir(parents=True, exist_ok=True)
    plane = control_plane(config)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        asyncio.run(serve(config, plane))
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        plane.close()
