"""One call's record: written to the store as the call goes, and counted in
the metrics. Every write goes through the store's writer thread, so a
server killed mid-call leaves every completed turn behind."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mediaserver.amd.detector import AmdDecision
from mediaserver.clock import now
from mediaserver.events import (
    AgentSpoke,
    CallEvent,
    Dtmf,
    Hangup,
    Interrupted,
    MenuChoice,
    SendDtmf,
    ToolCall,
    Transcript,
    Transfer,
)
from mediaserver.metrics import Metrics
from mediaserver.store import Store
from mediaserver.store.tool_calls import add_tool_call
from mediaserver.store.writer import StoreWriter

if TYPE_CHECKING:
    from mediaserver.webhooks.outbox import CallEvents

log = logging.getLogger(__name__)

# stage -> (model, the stage it is measured from)
MODEL_STAGES = {
    "stt_done": ("stt", "speech_end"),
    "first_token": ("llm", "stt_done"),
    "first_tts_audio": ("tts", "first_token"),
}


HEARTBEAT_SECONDS = 10.0  # how often a live call's last_seen_at moves on between turns


class Records:
    """Where calls are recorded: the store, its writer thread, the metrics.
    `numbers` is what a stored URI goes through (mediaserver.numbers.policy)."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        numbers: Callable[[str], str] = str,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        worker: str = "",
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.numbers = numbers
        self.worker = worker  # the cluster's media worker holding these calls ("": one process)
        self._live: set[str] = set()
        self._live_lock = threading.Lock()
        self.writer = StoreWriter(tick=self._heartbeat, tick_seconds=heartbeat_seconds)
        # webhooks' call events, written by the writer right after the call's own write
        self.events: CallEvents | None = None

    @property
    def live_calls(self) -> int:
        with self._live_lock:
            return len(self._live)

    def after(self, write: Callable[[CallEvents], object]) -> None:
        """Write a call event (if webhooks are on) after the writes queued so far."""
        if (events := self.events) is not None:
            self.writer.submit(lambda: write(events))

    def _heartbeat(self) -> None:
        with self._live_lock:
            live = list(self._live)
        self.store.touch_calls(live)

    def ended(self, call_id: str) -> None:
        with self._live_lock:
            self._live.discard(call_id)

    def open(self, *, transport: str, agent: str, **details: str | int) -> CallLog:
        """A new call's record; `details` are Store.call_created's (direction, from_uri, ...)."""
        call = CallLog(self, transport, agent)
        for uri in ("from_uri", "to_uri"):
            if isinstance(value := details.get(uri), str):
                details[uri] = self.numbers(value)
        with self._live_lock:
            self._live.add(call.id)
        self.writer.submit(
            lambda: self.store.call_created(
                call_id=call.id,
                transport=transport,
                agent=agent,
                worker=self.worker,
                **details,  # type: ignore[arg-type]
            )
        )
        self.after(lambda events: events.started(call.id))
        self.metrics.active_calls.labels(transport).inc()
        return call

    def close(self) -> None:
        self.writer.close()


class CallLog:
    def __init__(self, records: Records, transport: str, agent: str) -> None:
        self.id = str(uuid.uuid4())
        self.transport = transport
        self.agent = agent
        self.hangup_reason: str | None = None  # the agent's reason, if it ended the call
        self._records = records
        self._started = now()  # call time 0 (inbound audio position 0 from here)
        self._ended = False

    def call_time(self, at: float | None = None) -> float:
        return round((now() if at is None else at) - self._started, 3)

    def _write(self, method: str, *args: object, **kwargs: object) -> None:
        store, call_id = self._records.store, self.id
        self._records.writer.submit(lambda: getattr(store, method)(call_id, *args, **kwargs))

    def answered(self) -> None:
        self._started = now()
        self._write("update_call", answered_at=datetime.now(UTC))
        self._records.after(lambda events: events.answered(self.id))

    def recording(self, path: str) -> None:
        self._write("update_call", recording_path=path)

    def on_event(self, event: CallEvent, rate: int) -> None:
        """A session's event: turns and DTMF into the store, latency into the metrics."""
        match event:
            case Transcript(text=text, start=start, end=end):
                self._write(
                    "add_turn",
                    "caller",
                    text,
                    start_s=round(start / rate, 3),
                    end_s=round(end / rate, 3),
                )
            case AgentSpoke():
                timings = dict(event.timings_ms)
                self._write(
                    "add_turn",
                    "agent",
                    event.text,
                    start_s=self.call_time(event.started),
                    end_s=self.call_time(event.ended),
                    interrupted=event.interrupted,
                    timings_ms=timings or None,
                    chunks=list(event.chunks) or None,
                )
                self._observe(timings)
            case Dtmf(digit=digit):
                self._write("add_event", self.call_time(), "dtmf", digit)
            case MenuChoice(digit=digit, language=language):
                self._write("add_event", self.call_time(), "menu", f"{digit} {language}")
            case Interrupted(heard=heard):
                self._write("add_event", self.call_time(), "interrupted", heard[:256])
            case Transfer(target=target):
                self._write("add_event", self.call_time(), "transfer", target)
                self._write("update_call", transfer_target=target)
            case ToolCall(name=name, status=status, latency_ms=latency):
                at, store, call_id = self.call_time(), self._records.store, self.id
                self._records.writer.submit(lambda: add_tool_call(store, call_id, at, event))
                self._write("add_event", at, "tool", f"{name} {status} {latency:.0f} ms")
            case SendDtmf(digits=digits):
                self._write("add_event", self.call_time(), "dtmf_sent", digits)
            case Hangup(reason=reason):
                self.hangup_reason = reason

    def amd(self, decision: AmdDecision) -> None:
        """Answering-machine detection's verdict on the answer."""
        self._write(
            "update_call",
            amd=decision.verdict,
            amd_decision_s=decision.at_s,
            amd_beep=decision.beep,
        )
        beep = ", beep" if decision.beep else ""
        self._write(
            "add_event",
            self.call_time(),
            "amd",
            f"{decision.verdict} ({decision.reason}{beep}) at {decision.at_s:.2f} s",
        )

    def amd_action(self, action: str, beep: bool) -> None:
        """What was done on the verdict: converse, message (voicemail) or hangup;
        `beep`: a beep was heard by then (the message waits for it)."""
        if beep:
            self._write("update_call", amd_beep=True)
        self._write("add_event", self.call_time(), "amd_action", action)

    def transfer_outcome(self, outcome: str) -> None:
        self._write("update_call", transfer_outcome=outcome)

    def _observe(self, timings: dict[str, float]) -> None:
        metrics = self._records.metrics
        if (v2v := timings.get("first_audio_out")) is not None:
            metrics.voice_to_voice.observe(v2v / 1000)
        for stage, ms in timings.items():
            metrics.stage.labels(stage).observe(ms / 1000)
            if stage in MODEL_STAGES:
                model, since = MODEL_STAGES[stage]
                if since in timings or since == "speech_end":
                    metrics.model_seconds.labels(model).observe(
                        max(0.0, ms - timings.get(since, 0.0)) / 1000
                    )

    def ended(self, reason: str, sip_code: int | None = None) -> None:
        """The call is over; the first reason given stands."""
        if self._ended:
            return
        self._ended = True
        reason = self.hangup_reason or reason
        self._write("call_ended", reason, sip_code)
        self._records.after(lambda events: events.ended(self.id))
        self._records.ended(self.id)
        metrics = self._records.metrics
        metrics.active_calls.labels(self.transport).dec()
        metrics.calls_ended.labels(self.transport, reason).inc()
        if sip_code:
            metrics.sip_responses.labels(str(sip_code)).inc()
        log.info("call %s ended: %s", self.id, reason)
