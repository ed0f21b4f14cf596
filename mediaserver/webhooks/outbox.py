"""The events webhooks receive, and where they are written: Outbox.emit (for
any event, e.g. the campaigns' campaign.finished) and CallEvents (a call's
start, answer and end, written by the store writer right after the call's own
write, in order)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import Connection

from mediaserver.analysis.spec import for_call
from mediaserver.store import Store
from mediaserver.store.analysis import PENDING, set_analysis
from mediaserver.store.outbox import OutboxStore
from mediaserver.store.unclean import OnClosed

log = logging.getLogger(__name__)

EventType = Literal[
    "call.started", "call.answered", "call.ended", "call.analyzed", "campaign.finished"
]
EVENT_TYPES: tuple[EventType, ...] = (
    "call.started",
    "call.answered",
    "call.ended",
    "call.analyzed",
    "campaign.finished",
)
CALL_FIELDS = (
    "transport",
    "direction",
    "from_uri",
    "to_uri",
    "trunk",
    "agent",
    "agent_version",
    "created_at",
    "answered_at",
    "ended_at",
    "end_reason",
    "sip_code",
    "external_id",
)


class Outbox:
    """Writes events into the store's outbox, one row per webhook that wants
    it; the delivery worker (delivery.py) sends them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows = OutboxStore(store.engine)

    def emit(
        self,
        event_type: EventType,
        payload: dict[str, Any],
        *,
        agent: str | None = None,
        campaign: str | None = None,
    ) -> str:
        """Write the event now (blocking: call it off the event loop); its event id."""
        with self.store.engine.begin() as c:
            return self.rows.enqueue(c, event_type, payload, agent=agent, campaign=campaign)

    def emit_on(
        self,
        c: Connection,
        event_type: EventType,
        payload: dict[str, Any],
        *,
        agent: str | None = None,
        campaign: str | None = None,
    ) -> str:
        """The same, inside the caller's transaction `c`."""
        return self.rows.enqueue(c, event_type, payload, agent=agent, campaign=campaign)


def call_data(call: dict[str, Any], public_url: str = "", ended: bool = False) -> dict[str, Any]:
    """A call event's data; once ended, with its transcript, analysis and recording URL."""
    data: dict[str, Any] = {"call_id": call["id"], **{k: call.get(k) for k in CALL_FIELDS}}
    if ended:
        data["transcript"] = [
            {k: turn[k] for k in ("speaker", "text", "start_s", "end_s", "interrupted")}
            for turn in call.get("turns", [])
        ]
        data["analysis"] = call.get("analysis")
        data["recording_url"] = (
            f"{public_url.rstrip('/')}/calls/{call['id']}/recording"
            if call.get("recording_path")
            else None
        )
    return data


def unclean_ended(store: Store, public_url: str = "") -> OnClosed:
    """Store.close_unclean's on_closed: the closed call's call.ended (its
    transcript so far, its recording URL), in the closing transaction."""
    outbox = Outbox(store)

    def ended(c: Connection, call: dict[str, Any]) -> None:
        recording = call.get("recording_path")
        if recording and not Path(recording).is_file():  # the kill came before it was written
            call = {**call, "recording_path": None}
        data = call_data(call, public_url, ended=True)
        outbox.emit_on(c, "call.ended", data, agent=call["agent"])

    return ended


class CallEvents:
    """call.started / call.answered / call.ended, from the store writer's
    thread just after the call's own write. call.ended waits for the analysis
    when the agent enables one (`analyze` is told the call to analyse; the
    analysis worker emits call.ended with its result)."""

    def __init__(
        self,
        outbox: Outbox,
        public_url: str = "",
        analyze: Callable[[str], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.store = outbox.store
        self.public_url = public_url
        self.analyze = analyze

    def started(self, call_id: str) -> None:
        self._emit("call.started", call_id)

    def answered(self, call_id: str) -> None:
        self._emit("call.answered", call_id)

    def _emit(self, event_type: EventType, call_id: str) -> None:
        call = self.store.get_call(call_id)
        if call is not None:
            self.outbox.emit(event_type, call_data(call, self.public_url), agent=call["agent"])

    def ended(self, call_id: str) -> None:
        call = self.store.get_call(call_id)
        if call is None:
            return
        if self.analyze is not None and for_call(self.store, call) is not None:
            pending = {"status": PENDING, "then": "call.ended"}
            set_analysis(self.store.engine, call_id, pending)
            self.analyze(call_id)
            return
        self.outbox.emit(
            "call.ended", call_data(call, self.public_url, ended=True), agent=call["agent"]
        )

    def analysed(self, c: Connection, call: dict[str, Any], then: EventType) -> None:
        """The analysis is stored (on `c`, in its transaction): call.ended, or
        call.analyzed after a re-run, carries it."""
        self.outbox.emit_on(
            c, then, call_data(call, self.public_url, ended=True), agent=call["agent"]
        )
