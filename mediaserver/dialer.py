"""Where outbound calls go: the SIP URI a number is called at through each
trunk, and the limit on the calls each trunk carries at once, shared by every
campaign the runner dials (POST /calls jobs are one-lead campaigns in the
store: campaigns/one_call.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from mediaserver.agents import Agent, AgentBook
from mediaserver.amd.detector import AmdDecision
from mediaserver.amd.policy import AmdPolicy
from mediaserver.campaigns.one_call import CallRules
from mediaserver.metrics import Metrics


class DialError(ValueError):
    """The request cannot be queued; the message says why."""


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
        rules: CallRules | None = None,
    ) -> None:
        self.calls = calls
        self.book = book
        self.metrics = metrics
        self.trunk_host = trunk_host
        self.trunks = trunks or {}  # registration trunk -> the host numbers are called at
        self.per_trunk = per_trunk
        self.rules = rules or CallRules()  # what each POST /calls job gets
        self._slots: dict[str, asyncio.Semaphore] = {}

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

    def slots(self, trunk: str) -> asyncio.Semaphore:
        """The trunk's call slots, shared by every campaign (all in the one
        process that places outbound calls, whatever the workers)."""
        return self._slots.setdefault(trunk, asyncio.Semaphore(self.per_trunk))
