"""Outbound calls from the API: a bounded queue per trunk, a limit on the
calls each trunk carries at once, and retries on busy or no answer (the
seed of campaigns). Jobs live in memory; every attempt is a call record."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from mediaserver.agents import Agent, AgentBook
from mediaserver.amd.detector import AmdDecision
from mediaserver.amd.policy import AmdPolicy
from mediaserver.metrics import Metrics

log = logging.getLogger(__name__)

RETRY_ON = ("busy", "no answer")


class DialError(ValueError):
    """The request cannot be queued; the message says why."""


@dataclass
class Job:
    id: int
    to: str  # the SIP URI dialled
    agent: str
    trunk: str
    state: str = "queued"  # queued | calling | waiting | done
    outcome: str | None = None  # answered | busy | no answer | rejected | failed | dnc
    sip_code: int | None = None
    attempts: int = 0
    call_ids: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    amd_policy: AmdPolicy | None = None  # answering-machine detection asked for
    amd: dict[str, Any] | None = None  # its decision on the last answered attempt
    caller_id: str = ""  # the From of its INVITEs ("": the account's own)

    def as_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        policy = out.pop("amd_policy")
        if policy is not None:
            out["amd_policy"] = policy.as_dict()
        return out


@dataclass(frozen=True, slots=True)
class DialOptions:
    """How one outbound call is placed, besides whom and with which agent."""

    ring_seconds: float = 30.0  # then the INVITE is cancelled: "no answer"
    trunk: str | None = None  # a registration trunk to call through; None: the plain account
    amd: AmdPolicy | None = None  # answering-machine detection before the greeting
    on_amd: Callable[[AmdDecision], None] | None = None  # told the detector's decision
    variables: Mapping[str, str] = field(default_factory=dict)  # {name}s of greeting and prompt
    caller_id: str = ""  # E.164 or sip: URI, the INVITE's From; "": the account's own


class Dials(Protocol):
    """Where calls are placed: Calls (one process) or a cluster's workers."""

    async def dial(
        self, uri: str, agent: Agent, version: int, options: DialOptions
    ) -> tuple[str, int, str, str]: ...


class Dialer:
    def __init__(
        self,
        calls: Dials,
        book: AgentBook,
        metrics: Metrics,
        *,
        trunk_host: str,
        trunks: dict[str, str] | None = None,
        per_trunk: int = 2,
        retries: int = 2,
        retry_seconds: float = 60.0,
        ring_seconds: float = 30.0,
        queue_limit: int = 1000,
        keep: int = 1000,
        blocked: Callable[[str], bool] | None = None,
    ) -> None:
        self.calls = calls
        self.book = book
        self.metrics = metrics
        self.trunk_host = trunk_host
        self.trunks = trunks or {}  # registration trunk -> the host numbers are called at
        self.per_trunk = per_trunk
        self.retries = retries
        self.retry_seconds = retry_seconds
        self.ring_seconds = ring_seconds
        self.queue_limit = queue_limit
        self.keep = keep
        self.blocked = blocked  # the do-not-call list: a target it blocks is never dialled
        self.jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def target(self, to: str, trunk: str) -> str:
        """The SIP URI for `to`: a sip: URI as it is, a number through the trunk."""
        if to.startswith(("sip:", "sips:")):
            return to
        if not to.lstrip("+").replace("-", "").isdigit():
            raise DialError(f"{to!r} is neither a number nor a sip: URI")
        if trunk in self.trunks:
            return f"sip:{to}@{self.trunks[trunk]}"
        if trunk != "default" or not self.trunk_host:
            raise DialError(f"no trunk {trunk!r} to call numbers through ([sip] trunk_host)")
        return f"sip:{to}@{self.trunk_host}"

    @property
    def waiting(self) -> int:
        return sum(job.state in ("queued", "waiting") for job in self.jobs.values())

    def submit(
        self,
        to: str,
        agent: str,
        trunk: str = "default",
        amd: AmdPolicy | None = None,
        caller_id: str = "",
    ) -> Job:
        uri = self.target(to, trunk)
        if self.waiting >= self.queue_limit:
            raise DialError(f"the outbound queue is full ({self.queue_limit} calls)")
        job = Job(next(self._ids), uri, agent, trunk, amd_policy=amd, caller_id=caller_id)
        self.jobs[job.id] = job
        while len(self.jobs) > self.keep:  # forget the oldest finished jobs
            oldest = next((j for j in self.jobs.values() if j.state == "done"), None)
            if oldest is None:
                break
            del self.jobs[oldest.id]
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._count()
        return job

    def _count(self) -> None:
        self.metrics.outbound_queue.set(self.waiting)

    def slots(self, trunk: str) -> asyncio.Semaphore:
        """The trunk's call slots, shared by POST /calls and campaigns (all in
        the one process that places outbound calls, whatever the workers)."""
        return self._slots.setdefault(trunk, asyncio.Semaphore(self.per_trunk))

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        slots = self.slots(job.trunk)
        while True:
            async with slots:
                if self.blocked is not None and await loop.run_in_executor(
                    None, self.blocked, job.to
                ):
                    job.state, job.outcome = "done", "dnc"
                    break
                found = await loop.run_in_executor(None, self.book.get, job.agent)
                if found is None:
                    job.state, job.outcome = "done", "failed"
                    break
                job.state = "calling"
                job.attempts += 1
                self._count()
                try:
                    outcome, code, _, call_id = await self.calls.dial(
                        job.to, found[0], found[1], self.options(job)
                    )
                except Exception:
                    log.exception("outbound call %d failed", job.id)
                    outcome, code, call_id = "failed", 0, ""
            job.outcome, job.sip_code = outcome, code or None
            if call_id:
                job.call_ids.append(call_id)
            if outcome not in RETRY_ON or job.attempts > self.retries:
                job.state = "done"
                break
            job.state = "waiting"
            self._count()
            await asyncio.sleep(self.retry_seconds)
        self._count()
        log.info("outbound job %d: %s after %d attempt(s)", job.id, job.outcome, job.attempts)

    def options(self, job: Job) -> DialOptions:
        return DialOptions(
            ring_seconds=self.ring_seconds,
            trunk=job.trunk if job.trunk in self.trunks else None,
            amd=job.amd_policy,
            on_amd=lambda decision: setattr(job, "amd", decision.as_dict()),
            caller_id=job.caller_id,
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
