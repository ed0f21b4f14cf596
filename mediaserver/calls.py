"""Running calls, SIP and WebRTC alike: a Session, a call record and a task
per call, fed from the CallMedia buffers its transport fills."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mediaserver.agents import Agent, AgentBook
from mediaserver.calllog import CallLog, Records
from mediaserver.config import VadConfig
from mediaserver.conversation.ports import Speech
from mediaserver.events import CallEvent, Transfer
from mediaserver.frames import AudioFrame
from mediaserver.recording import Recorder
from mediaserver.session import RATE, Session
from mediaserver.transports.call import FRAME, CallHandle, CallHandler, Transport
from mediaserver.transports.sip import SipServer

log = logging.getLogger(__name__)


class Calls(CallHandler):
    """Answers calls with an agent, whatever transport brought them."""

    def __init__(
        self,
        agents: AgentBook,
        speech: Speech,
        vad: VadConfig,
        *,
        records: Records,
        data_dir: Path,
        default_agent: str = "default",
    ) -> None:
        self.agents = agents
        self.speech = speech
        self.vad = vad
        self.records = records
        self.recordings = data_dir / "recordings"
        self.default_agent = default_agent
        self.transports: dict[str, Transport] = {}  # by CallHandle.transport
        self.sessions: dict[CallHandle, Session] = {}
        self.logs: dict[CallHandle, tuple[Agent, CallLog]] = {}
        self.on_outbound_start: Callable[[CallHandle], None] | None = None
        self.on_outbound_end: Callable[[CallHandle, int, str], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def place(self, uri: str, agent: Agent, version: int) -> CallHandle:
        """An outbound call with `agent`: recorded from the first INVITE."""
        record = self.records.open(
            transport="sip",
            direction="outbound",
            agent=agent.name,
            agent_version=version,
            to_uri=uri,
        )
        sip = self.transports["sip"]
        assert isinstance(sip, SipServer)
        handle = sip.place(uri)
        self.logs[handle] = (agent, record)
        return handle

    def started(self, call: CallHandle) -> None:
        if call.outbound and self.on_outbound_start is not None:
            self.on_outbound_start(call)
        task = asyncio.create_task(self._run(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def dtmf(self, call: CallHandle, digit: str) -> None:
        if (session := self.sessions.get(call)) is not None:
            session.dtmf(digit)

    def transfer_failed(self, call: CallHandle, code: int) -> None:
        log.info("call %d: transfer failed (%d)", call.call_id, code)
        if (found := self.logs.get(call)) is not None:
            found[1].transfer_outcome("failed")
        if (session := self.sessions.get(call)) is not None:
            session.transfer_failed()

    def ended(self, call: CallHandle, code: int, reason: str) -> None:
        log.info("call %d ended: %d %s", call.call_id, code, reason)
        if not call.started and (found := self.logs.pop(call, None)) is not None:
            found[1].ended(OUTCOMES.get(code, "failed").replace(" ", "_"), code)
        if call.outbound and self.on_outbound_end is not None:
            self.on_outbound_end(call, code, reason)

    async def _agent(self, call: CallHandle) -> tuple[Agent, CallLog]:
        if (found := self.logs.get(call)) is not None:
            return found
        loop = asyncio.get_running_loop()
        agent, version = await loop.run_in_executor(None, self._inbound_agent, call.agent)
        record = self.records.open(
            transport=call.transport,
            direction="inbound",
            agent=agent.name,
            agent_version=version,
            from_uri=call.remote_uri,
            to_uri=call.local_uri,
        )
        self.logs[call] = (agent, record)
        return agent, record

    def _inbound_agent(self, name: str | None) -> tuple[Agent, int]:
        return self.agents.get(name or self.default_agent) or (self.agents.builtin, 0)

    async def _run(self, call: CallHandle) -> None:
        agent, record = await self._agent(call)
        record.answered()

        def on_event(event: CallEvent) -> None:
            log.info("call %s: %s", record.id, event)
            record.on_event(event, RATE)
            if call.on_event is not None:
                call.on_event(event)
            if isinstance(event, Transfer):
                self.transports[call.transport].transfer(call, event.target)

        session = Session(
            agent, self.speech, self.vad, outbound=call.media.outbound, on_event=on_event
        )
        self.sessions[call] = session
        log.info(
            "call %s (%s %d) from %s answered",
            record.id,
            call.transport,
            call.call_id,
            call.remote_uri,
        )
        reason = "caller_hangup"
        try:
            await self._drive(call, session, record, agent)
        except asyncio.CancelledError:
            reason = "server_shutdown"
            raise
        finally:
            self.sessions.pop(call, None)
            self.logs.pop(call, None)
            if call.transferred:
                record.transfer_outcome("done")
                reason = "transferred"
            elif call.end_reason and reason != "server_shutdown":
                reason = call.end_reason
            record.ended(reason, 200)

    async def _drive(
        self, call: CallHandle, session: Session, record: CallLog, agent: Agent
    ) -> None:
        """Every 20 ms: hand the session what the media thread received."""
        session.start()
        position = 0
        recorder = None
        if agent.record:
            recorder = Recorder(self.recordings / f"{record.id}.wav")
            record.recording(str(recorder.path))
            log.info("call %s recording to %s", record.id, recorder.path)
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        try:
            while not call.ended:
                next_tick += 0.02
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
                while call.media.inbound.buffered >= FRAME:
                    frame = AudioFrame.copy_of(call.media.inbound.read(), RATE, position)
                    session.receive(frame)
                    position += FRAME
                    if recorder is not None:  # the agent frame played at about the same tick
                        recorder.add(frame.samples, call.media.played.read())
                if session.engine.ended.is_set():
                    await asyncio.sleep(0.5)  # let the goodbye's last frames go out
                    self.transports[call.transport].hangup(call)
                    break
        finally:
            await session.close()
            if recorder is not None:
                await asyncio.get_running_loop().run_in_executor(None, recorder.close)
            if call.media.dropped_in:
                self.records.metrics.jitter_frames.labels(call.transport, "dropped").inc(
                    call.media.dropped_in
                )
            log.info(
                "call %s media: received %.2f s, sound %.2f s, speech %.2f s, dropped %d frames",
                record.id,
                session.frames_in * FRAME / RATE,
                session.sound_frames * FRAME / RATE,
                session.voiced_frames * FRAME / RATE,
                call.media.dropped_in,
            )
            log.info("call %s pacing: %s", record.id, call.media.pacing.summary())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


OUTCOMES = {
    486: "busy",
    600: "busy",
    408: "no answer",
    480: "no answer",
    487: "no answer",
    403: "rejected",
    603: "rejected",
    404: "rejected",
}


async def place_call(
    calls: Calls,
    server: SipServer,
    uri: str,
    *,
    agent: Agent,
    version: int = 0,
    ring_seconds: float = 30.0,
) -> tuple[str, int, str]:
    """Call `uri` with the agent; when the call is over: (outcome, SIP code, reason).

    outcome: "answered", "busy", "no answer", "rejected" or "failed"."""
    done: asyncio.Future[tuple[CallHandle, int, str]] = asyncio.get_running_loop().create_future()

    def finished(call: CallHandle, code: int, reason: str) -> None:
        if not done.done():
            done.set_result((call, code, reason))

    calls.on_outbound_end = finished
    answered = asyncio.Event()
    calls.on_outbound_start = lambda call: answered.set()
    handle = calls.place(uri, agent, version)
    ringing = asyncio.ensure_future(answered.wait())
    waiting: set[asyncio.Future[Any]] = {done, ringing}
    await asyncio.wait(waiting, timeout=ring_seconds, return_when=asyncio.FIRST_COMPLETED)
    ringing.cancel()
    if not (done.done() or answered.is_set()):
        server.hangup(handle, 487)  # nobody answered: cancel the INVITE
    call, code, reason = await done
    if call.started:
        return "answered", code, reason
    return OUTCOMES.get(code, "failed"), code, reason
