"""The workers as the control process sees them: their status (polled over
their loopback HTTP every half second), where a new call goes, and the two
things placed on them: browser offers and outbound calls."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from mediaserver.agents import Agent
from mediaserver.amd.detector import AmdDecision
from mediaserver.cluster.proto import WorkerAddress
from mediaserver.cluster.worker_api import SECRET_HEADER
from mediaserver.dialer import DialOptions
from mediaserver.transports.call import CallHandle
from mediaserver.transports.webrtc import Busy, OfferError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


@dataclass
class WorkerState:
    address: WorkerAddress
    up: bool = False
    draining: bool = False
    sip_calls: int = 0
    webrtc_calls: int = 0
    sip_capacity: int = 4
    webrtc_capacity: int = 20
    placing: int = 0  # outbound calls the control is placing there right now

    def placed(self) -> None:
        self.placing = max(0, self.placing - 1)

    @property
    def sip_room(self) -> int:
        return self.sip_capacity - self.sip_calls - self.placing

    @property
    def room(self) -> int:
        return (
            self.sip_capacity + self.webrtc_capacity - self.sip_calls - self.webrtc_calls
        ) - self.placing


class Workers:
    def __init__(self, addresses: tuple[WorkerAddress, ...], secret: str) -> None:
        self.states = {a.worker: WorkerState(a) for a in addresses}
        self._headers = {SECRET_HEADER: secret}
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(5.0), headers=self._headers)
        self._task: asyncio.Task[None] | None = None

    def url(self, state: WorkerState, path: str) -> str:
        return f"http://127.0.0.1:{state.address.http_port}{path}"

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.aclose()

    async def _poll_forever(self) -> None:
        """Each worker once per POLL_SECONDS, the polls spread over the period:
        all at once, every worker's event loop woke in the same instant, a burst
        of work on every core that showed as a spike in the calls' frame pacing."""
        states = list(self.states.values())
        gap = POLL_SECONDS / max(1, len(states))
        polls: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                for state in states:
                    running = polls.get(state.address.worker)
                    if running is None or running.done():  # a slow worker is not polled twice
                        polls[state.address.worker] = asyncio.create_task(self._poll(state))
                    await asyncio.sleep(gap)
        finally:
            for task in polls.values():
                task.cancel()
            await asyncio.gather(*polls.values(), return_exceptions=True)

    async def _poll(self, state: WorkerState) -> None:
        try:
            response = await self._client.get(self.url(state, "/worker/status"), timeout=1.0)
            response.raise_for_status()
            status = response.json()
        except (httpx.HTTPError, ValueError):
            if state.up:
                log.warning("worker %s does not answer", state.address.worker)
            state.up = False
            return
        state.up = True
        state.draining = bool(status["draining"])
        state.sip_calls = int(status["sip_calls"])
        state.webrtc_calls = int(status["webrtc_calls"])
        state.sip_capacity = int(status["sip_capacity"])
        state.webrtc_capacity = int(status["webrtc_capacity"])

    def ready(self) -> dict[str, bool]:
        """Ready while any worker takes calls: the edge fails over to it."""
        return {"workers": any(self.taking().values())}

    def taking(self) -> dict[str, bool]:
        return {name: s.up and not s.draining for name, s in self.states.items()}

    async def hang_up(self, worker: str, call_id: str) -> bool:
        """End a call in progress on `worker`; False: it holds no such call."""
        state = self.states.get(worker)
        if state is None or not state.up:
            return False
        try:
            response = await self._client.post(self.url(state, f"/worker/hangup/{call_id}"))
        except httpx.HTTPError as exc:
            log.warning("worker %s: hang-up of %s failed: %s", worker, call_id, exc)
            return False
        return response.status_code == 204

    def pick(self, sip: bool) -> WorkerState | None:
        """The live worker with the most room (for SIP: with a free call slot)."""
        usable = [s for s in self.states.values() if s.up and not s.draining]
        if sip:
            usable = [s for s in usable if s.sip_room > 0]
        else:
            usable = [s for s in usable if s.webrtc_calls < s.webrtc_capacity]
        return max(usable, key=lambda s: s.room, default=None)

    async def post(
        self, state: WorkerState, path: str, body: dict[str, Any], seconds: float | None
    ) -> httpx.Response:
        return await self._client.post(self.url(state, path), json=body, timeout=seconds)

    def metrics_texts(self) -> dict[str, str]:
        """Every live worker's /metrics (blocking: called from the scrape's thread)."""
        texts = {}
        for name, state in self.states.items():
            if not state.up:
                continue
            try:
                response = httpx.get(
                    self.url(state, "/worker/metrics"), headers=self._headers, timeout=2.0
                )
                response.raise_for_status()
            except httpx.HTTPError:
                continue
            texts[name] = response.text
        return texts


class RemoteWebRtc:
    """The WebRTC transport as the HTTP API sees it: offers go to a worker."""

    def __init__(self, workers: Workers, ice_servers: list[dict[str, Any]]) -> None:
        self.workers = workers
        self._ice_servers = ice_servers

    def ice_servers(self) -> list[dict[str, Any]]:
        return self._ice_servers

    async def answer(
        self, sdp: str, kind: str, agent: str | None = None, remote: str = ""
    ) -> tuple[CallHandle, str]:
        if kind != "offer":
            raise OfferError(f"expected an offer, got {kind!r}")
        state = self.workers.pick(sip=False)
        if state is None:
            raise Busy("every worker is full, draining or down")
        body = {"sdp": sdp, "type": kind, "agent": agent or "default"}
        try:
            response = await self.workers.post(state, "/worker/webrtc/offer", body, 30.0)
        except httpx.HTTPError as exc:
            raise Busy(f"worker {state.address.worker}: {exc}") from None
        if response.status_code == 400:
            raise OfferError(response.json().get("detail", "bad offer"))
        if response.status_code != 200:
            raise Busy(f"worker {state.address.worker}: {response.status_code}")
        answer = response.json()
        state.webrtc_calls += 1  # until the next poll says otherwise
        log.info("browser call placed on worker %s", state.address.worker)
        return CallHandle(int(answer["call_id"]), transport="webrtc", agent=agent), answer["sdp"]


class RemoteCalls:
    """Calls.dial for the dialer: each call placed on a worker with a free slot
    (the dialer itself limits each trunk's calls across all workers)."""

    def __init__(self, workers: Workers, max_call_seconds: float) -> None:
        self.workers = workers
        self.max_call_seconds = max_call_seconds

    async def dial(
        self, uri: str, agent: Agent, version: int, options: DialOptions
    ) -> tuple[str, int, str, str]:
        body = {
            "uri": uri,
            "agent": agent.name,
            "ring_seconds": options.ring_seconds,
            "trunk": options.trunk,
            "amd": options.amd.as_dict() if options.amd is not None else None,
            "variables": dict(options.variables),
            "caller_id": options.caller_id,
        }
        while True:
            # room shows up in the workers' polled status: no event to wait on
            while (state := self.workers.pick(sip=True)) is None:  # noqa: ASYNC110
                await asyncio.sleep(POLL_SECONDS)
            state.placing += 1  # counted until the worker's own status shows the call
            asyncio.get_running_loop().call_later(2.0, state.placed)
            try:
                log.info("outbound call to %s placed on worker %s", uri, state.address.worker)
                response = await self.workers.post(
                    state, "/worker/dial", body, options.ring_seconds + self.max_call_seconds + 30
                )
            except httpx.HTTPError as exc:
                return "failed", 0, f"worker {state.address.worker}: {exc}", ""
            if response.status_code != 503:
                break
            # it began to drain (or filled up) since its last poll: the call waits
            # for a worker that takes it, as when none has room
            log.info("worker %s refused the call: %s", state.address.worker, response.text[:200])
            state.draining = True  # until its next poll says otherwise
        if response.status_code != 200:
            return "failed", 0, f"worker {state.address.worker}: {response.text[:200]}", ""
        out = response.json()
        if options.on_amd is not None and out.get("amd"):
            options.on_amd(AmdDecision(**out["amd"]))
        return str(out["outcome"]), int(out["code"]), str(out["reason"]), str(out["call_id"])
