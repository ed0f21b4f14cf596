"""The campaign runner: in the process that places outbound calls (the one
`serve`, or a cluster's control process), each tick it takes the due leads
of every running campaign, within their calling windows, the campaign's
max_concurrent and the trunk's slots (shared with POST /calls), claims
each in the store and dials it. Everything it knows is in the store: a
restarted runner goes on where the last one stopped, and closes the attempts
a dead one left (their leases ran out) as `unclean`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from mediaserver.agents import AgentBook
from mediaserver.amd.detector import AmdDecision
from mediaserver.amd.policy import AmdPolicy, AmdPolicyError
from mediaserver.campaigns.dnc import DoNotCall
from mediaserver.campaigns.events import AttemptEnded, CampaignEvent, CampaignFinished, LeadSkipped
from mediaserver.campaigns.leads_csv import neutralized
from mediaserver.campaigns.model import CampaignSpec, outcome_state, stored_spec, zone
from mediaserver.campaigns.schedule import next_open
from mediaserver.dialer import Dialer, DialOptions, Dials
from mediaserver.store import Store
from mediaserver.store.campaigns import CampaignStore, Claim
from mediaserver.store.db import utcnow

log = logging.getLogger(__name__)
Offload = Callable[..., Awaitable[Any]]  # runs a blocking store call off the loop


def after(
    spec: CampaignSpec, outcome: str, attempt: int, now: datetime
) -> tuple[str, datetime | None]:
    """The lead's state after attempt number `attempt` ended with `outcome`
    (queued again at the returned time, or final)."""
    delay = spec.retry_after(outcome)
    if delay is not None and attempt < spec.max_attempts:
        return "queued", now + timedelta(seconds=delay)
    return outcome_state(outcome), None


class CampaignRunner:
    def __init__(
        self,
        store: CampaignStore,
        dials: Dials,
        book: AgentBook,
        *,
        slots: Callable[[str], asyncio.Semaphore],
        target: Callable[[str, str], str],
        named_trunks: set[str] | frozenset[str] = frozenset(),
        on_event: Callable[[CampaignEvent], None] = lambda event: None,
        now: Callable[[], datetime] = utcnow,
        offload: Offload = asyncio.to_thread,
        tick_seconds: float = 1.0,
        lease_seconds: float = 15.0,
    ) -> None:
        self.store = store
        self.dials = dials
        self.book = book
        self.slots = slots  # per trunk (Dialer.slots)
        self.target = target  # (number, trunk) -> SIP URI (Dialer.target)
        self.named_trunks = named_trunks  # registration trunks (their credentials are used)
        self.on_event = on_event
        self.now = now
        self.offload = offload
        self.tick_seconds = tick_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = uuid.uuid4().hex[:16]  # this runner's leases
        self.dnc = DoNotCall(store)
        self.calling: dict[int, set[int]] = {}  # campaign -> leads this runner is calling
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._renewed: datetime | None = None
        self._wake = asyncio.Event()  # an attempt ended: its slot can be refilled at once

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self.run())

    def wake(self) -> None:
        """Tick now, not at the next second (a POST /calls job was just written)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("campaign tick failed")  # the store may be back next tick
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can turn a
            # cancellation (close()) into a TimeoutError, and the loop would run on
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_seconds):
                    await self._wake.wait()

    async def close(self) -> None:
        """Stop dialling; calls in flight are cut and their attempts closed as unclean."""
        tasks = [*self._tasks, *([self._loop_task] if self._loop_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def tick(self) -> None:
        now = self.now()
        await self._recover(now)
        await self._renew(now)
        for row in await self.offload(self.store.running):
            try:
                spec = stored_spec(row["id"], row["spec"])
            except ValidationError as exc:  # one broken campaign stops no other
                log.error("campaign %d: its stored spec is not valid: %s", row["id"], exc)
                continue
            await self._fill(row["id"], spec, now)
        # one statement for all: a thousand POST /calls jobs waiting for a
        # trunk are a thousand running campaigns
        for row in await self.offload(self.store.finish_done):
            log.info("campaign %d (%s) finished", row["id"], row["name"])
            self.calling.pop(row["id"], None)
            if row["kind"] == "campaign":  # not a POST /calls job
                self.on_event(CampaignFinished(row["id"], row["name"]))

    async def _fill(self, campaign_id: int, spec: CampaignSpec, now: datetime) -> None:
        calling = self.calling.setdefault(campaign_id, set())
        room = spec.max_concurrent - len(calling)
        slots = self.slots(spec.trunk)
        if room <= 0 or slots.locked():
            return
        for lead in await self.offload(self.store.due, campaign_id, now, room):
            opens = next_open(now, zone(lead["timezone"] or spec.timezone), spec.schedule)
            if opens > now:  # outside its calling window: wait for it to open
                await self.offload(self.store.defer, lead["id"], opens)
                continue
            if await self.offload(self.dnc.blocks, lead["phone"]):
                if await self.offload(self.store.settle, lead["id"], "dnc"):
                    self.on_event(LeadSkipped(campaign_id, lead["id"], lead["phone"], "dnc"))
                continue
            if slots.locked() or len(calling) >= spec.max_concurrent:
                return
            await slots.acquire()  # free: no wait (nothing awaited since locked())
            claim = await self.offload(self.store.claim, lead["id"], self.owner, now + self.lease)
            if claim is None:  # taken by another runner, or the campaign stopped
                slots.release()
                continue
            calling.add(claim.lead_id)
            task = asyncio.get_running_loop().create_task(self._attempt(claim, spec, slots))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _attempt(self, claim: Claim, spec: CampaignSpec, slots: asyncio.Semaphore) -> None:
        outcome, code, call_id = "failed", None, None
        decided: list[AmdDecision] = []
        try:
            found = await self.offload(self.book.get, spec.agent)
            if found is None:
                log.warning("campaign %d: no agent %r", claim.campaign_id, spec.agent)
            else:
                uri = self.target(claim.phone, spec.trunk)
                variables = {k: neutralized(str(v)) for k, v in claim.variables.items()}
                trunk = spec.trunk if spec.trunk in self.named_trunks else None
                options = DialOptions(
                    ring_seconds=spec.ring_seconds,
                    trunk=trunk,
                    amd=machine_policy(spec, variables) if spec.amd else None,
                    on_amd=decided.append,
                    variables=variables,
                    caller_id=spec.caller_id,
                )
                said, sip_code, _, record = await self.dials.dial(uri, found[0], found[1], options)
                outcome, code, call_id = said.replace(" ", "_"), sip_code or None, record or None
                if outcome == "answered" and decided:
                    outcome = amd_outcome(decided[0])
        except asyncio.CancelledError:
            outcome = "unclean"
            await self._finish(claim, spec, outcome)
            raise
        except Exception:
            log.exception("campaign %d lead %d: the call failed", claim.campaign_id, claim.lead_id)
        finally:
            slots.release()
            self.calling.get(claim.campaign_id, set()).discard(claim.lead_id)
        amd = decided[0].as_dict() if decided else None
        await self._finish(claim, spec, outcome, code=code, call_id=call_id, amd=amd)
        self._wake.set()

    async def _finish(
        self,
        claim: Claim,
        spec: CampaignSpec,
        outcome: str,
        *,
        code: int | None = None,
        call_id: str | None = None,
        owner: str | None = None,
        amd: dict[str, Any] | None = None,
    ) -> None:
        state, next_at = after(spec, outcome, claim.attempt, self.now())
        kept = await self.offload(
            lambda: self.store.finish(
                claim,
                owner or self.owner,
                outcome=outcome,
                sip_code=code,
                call_id=call_id,
                state=state,
                next_at=next_at,
                amd=amd,
            )
        )
        if not kept:
            log.warning("campaign %d lead %d: lease lost", claim.campaign_id, claim.lead_id)
            return
        log.info(
            "campaign %d lead %d attempt %d: %s -> %s",
            claim.campaign_id,
            claim.lead_id,
            claim.attempt,
            outcome,
            state,
        )
        self.on_event(
            AttemptEnded(
                claim.campaign_id,
                claim.lead_id,
                claim.phone,
                claim.attempt,
                outcome,
                code,
                call_id,
                state,
            )
        )

    async def _recover(self, now: datetime) -> None:
        """Attempts whose runner died (lease run out): closed unclean, retried by policy."""
        for claim, owner in await self.offload(self.store.expired, now):
            if owner == self.owner:
                continue  # ours and still running (a stalled loop let it lapse)
            row = await self.offload(self.store.get, claim.campaign_id)
            spec = stored_spec(claim.campaign_id, row["spec"])
            log.warning(
                "campaign %d lead %d: attempt %d closed as unclean (its runner stopped)",
                claim.campaign_id,
                claim.lead_id,
                claim.attempt,
            )
            await self._finish(claim, spec, "unclean", owner=owner)

    async def _renew(self, now: datetime) -> None:
        if self._renewed is not None and now - self._renewed < self.lease / 3:
            return
        self._renewed = now
        leads = [lead for calling in self.calling.values() for lead in calling]
        await self.offload(self.store.renew, self.owner, leads, now + self.lease)


def runner_for(
    dialer: Dialer,
    store: Store,
    on_event: Callable[[CampaignEvent], None] = lambda event: None,
) -> CampaignRunner:
    """The runner beside `dialer`: its calls, agents, trunks and trunk slots."""
    return CampaignRunner(
        CampaignStore(store),
        dialer.calls,
        dialer.book,
        slots=dialer.slots,
        target=dialer.target,
        named_trunks=frozenset(dialer.trunks),
        on_event=on_event,
    )


def machine_policy(spec: CampaignSpec, variables: dict[str, str]) -> AmdPolicy:
    """Every campaign call listens for a machine first; on one it leaves the
    campaign's message (the lead's variables filled) or hangs up."""
    if spec.voicemail != "leave_message":
        return AmdPolicy.of("hangup")
    try:
        return AmdPolicy.of("message", spec.voicemail_message, variables)
    except AmdPolicyError as exc:  # a lead without a column the message uses
        log.warning("campaign %r: %s: hanging up on machines for this lead", spec.name, exc)
        return AmdPolicy.of("hangup")


def amd_outcome(decision: AmdDecision) -> str:
    """An answered call as the lead sees it: a person, a mailbox, or the network."""
    if decision.carrier:
        return "failed"
    return "voicemail" if decision.verdict == "machine" else "answered"
