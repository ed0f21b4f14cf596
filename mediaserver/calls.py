"""Running calls, SIP and WebRTC alike: a Session, a call record and a task
per call, fed from the CallMedia buffers its transport fills."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mediaserver import logs
from mediaserver.agents import Agent, AgentBook, with_variables
from mediaserver.amd.detector import AmdDecision
from mediaserver.amd.gate import AmdGate
from mediaserver.amd.policy import AmdPolicy
from mediaserver.calllog import CallLog, Records
from mediaserver.config import VadConfig
from mediaserver.conversation.knowledge import Retrieval
from mediaserver.dialer import DialOptions
from mediaserver.events import CallEvent, SendDtmf, Transfer
from mediaserver.frames import AudioFrame
from mediaserver.media.end_of_turn import TurnModel
from mediaserver.recording import Recorder
from mediaserver.session import RATE, Session
from mediaserver.speech import Speech
from mediaserver.tools.runners import ToolRunners
from mediaserver.transports.call import FRAME, CallHandle, CallHandler, Transport
from mediaserver.transports.sip import SipServer

log = logging.getLogger(__name__)


class Calls(CallHandler):
    """Answers calls with an agent, whatever transport brought them."""

    def __init__(
        self,
        agents: AgentBook,
        speech: SpeechSource,
        vad: VadConfig,
        *,
        records: Records,
        data_dir: Path,
        default_agent: str = "default",
        routes: dict[str, str] | None = None,
        turn_model: TurnModel | None = None,
        knowledge: KnowledgeSource | None = None,
        tools: ToolRunners | None = None,
    ) -> None:
        self.agents = agents
        self.knowledge = knowledge  # agents' documents (None: no retrieval)
        self.tools = tools  # the agents' HTTP tools ([tools]); None: tools are not called
        self.turn_model = turn_model  # [vad] end_of_turn's model, loaded
        self.speech = speech
        self.vad = vad
        self.records = records
        self.recordings = data_dir / "recordings"
        self.default_agent = default_agent
        self.routes = routes or {}  # called number (user part) -> agent name
        self.transports: dict[str, Transport] = {}  # by CallHandle.transport
        self.sessions: dict[CallHandle, Session] = {}
        self.logs: dict[CallHandle, tuple[Agent, CallLog]] = {}
        self._dialing: dict[CallHandle, _Dialing] = {}
        self._amd: dict[CallHandle, tuple[AmdPolicy, Callable[[AmdDecision], None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def dial(
        self, uri: str, agent: Agent, version: int, options: DialOptions
    ) -> tuple[str, int, str, str]:
        """Call `uri` with the agent ({name}s in its greeting and prompt filled
        from options.variables); once the call is over: (outcome, SIP code,
        reason, call record id). outcome: "answered", "busy", "no answer",
        "rejected" or "failed". With options.amd, answering-machine detection
        holds the greeting until it has decided, and acts on a machine as the
        policy says; options.on_amd is told its decision (the call record keeps
        it too)."""
        handle, record = self._place(
            uri, with_variables(agent, dict(options.variables)), version, options
        )
        if options.amd is not None:
            self._amd[handle] = (options.amd, options.on_amd or (lambda decision: None))
        dialing = self._dialing[handle] = _Dialing(
            asyncio.Event(), asyncio.get_running_loop().create_future()
        )
        ringing = asyncio.ensure_future(dialing.answered.wait())
        waiting: set[asyncio.Future[Any]] = {dialing.done, ringing}
        await asyncio.wait(
            waiting, timeout=options.ring_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        ringing.cancel()
        if not (dialing.done.done() or dialing.answered.is_set()):
            self.transports["sip"].hangup(handle, 487)  # nobody answered: cancel the INVITE
        code, reason = await dialing.done
        self._dialing.pop(handle, None)
        self._amd.pop(handle, None)
        outcome = "answered" if handle.started else OUTCOMES.get(code, "failed")
        return outcome, code, reason, record.id

    def _place(
        self, uri: str, agent: Agent, version: int, options: DialOptions
    ) -> tuple[CallHandle, CallLog]:
        """An outbound call with `agent`: recorded from the first INVITE."""
        record = self.records.open(
            transport="sip",
            direction="outbound",
            agent=agent.name,
            agent_version=version,
            to_uri=uri,
            trunk=options.trunk or "",
        )
        sip = self.transports["sip"]
        assert isinstance(sip, SipServer)
        handle = sip.place(uri, options.trunk, options.caller_id)
        handle.record_id = record.id
        self.logs[handle] = (agent, record)
        return handle, record

    def hang_up(self, record_id: str) -> bool:
        """An operator ends the call with this record id; False: no such live call."""
        for handle, (_, record) in list(self.logs.items()):
            if record.id == record_id:
                record.hangup_reason = "operator_hangup"
                self.transports[handle.transport].hangup(handle)
                return True
        return False

    async def hang_up_now(self, record_id: str) -> bool:
        """hang_up for the HTTP app: on the event loop, which the transports'
        hangup belongs to (aiortc's data channel)."""
        return self.hang_up(record_id)

    def refusal(self) -> str | None:
        return self.speech.refusal()

    def started(self, call: CallHandle) -> None:
        if (dialing := self._dialing.get(call)) is not None:
            dialing.answered.set()
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
        if (dialing := self._dialing.get(call)) is not None and not dialing.done.done():
            dialing.done.set_result((code, reason))

    async def _agent(self, call: CallHandle) -> tuple[Agent, CallLog]:
        if (found := self.logs.get(call)) is not None:
            return found
        loop = asyncio.get_running_loop()
        name = call.agent or self.routes.get(called_number(call.local_uri))
        agent, version = await loop.run_in_executor(None, self._inbound_agent, name)
        record = self.records.open(
            transport=call.transport,
            direction="inbound",
            agent=agent.name,
            agent_version=version,
            from_uri=call.remote_uri,
            to_uri=call.local_uri,
            external_id=call.external_id,
        )
        call.record_id = record.id
        self.logs[call] = (agent, record)
        return agent, record

    def _inbound_agent(self, name: str | None) -> tuple[Agent, int]:
        return self.agents.get(name or self.default_agent) or (self.agents.builtin, 0)

    async def _run(self, call: CallHandle) -> None:
        agent, record = await self._agent(call)
        logs.call_id.set(record.id)  # on every log line of this call's tasks
        record.answered()

        def on_event(event: CallEvent) -> None:
            log.info("call %s: %s", record.id, event)
            record.on_event(event, RATE)
            if call.on_event is not None:
                call.on_event(event)
            if isinstance(event, Transfer):
                self.transports[call.transport].transfer(call, event.target)
            elif isinstance(event, SendDtmf):
                send = getattr(self.transports[call.transport], "send_dtmf", None)
                if send is None:
                    log.warning("call %s: %s cannot send DTMF", record.id, call.transport)
                else:
                    send(call, event.digits)

        speech = await self.speech.for_agent(agent)
        retrieval = await self.knowledge.for_call(agent) if self.knowledge is not None else None
        runner = await self.tools.for_call(agent, record.id) if self.tools else None
        session = Session(
            agent,
            speech,
            self.vad,
            outbound=call.media.outbound,
            on_event=on_event,
            turn_model=self.turn_model,
            retrieval=retrieval,
            tools=runner,
        )
        self.sessions[call] = session
        gate = self._amd_gate(call, session, speech, agent, record)
        log.info(
            "call %s (%s %d) from %s answered",
            record.id,
            call.transport,
            call.call_id,
            call.remote_uri,
        )
        reason = "caller_hangup"
        try:
            await self._drive(call, session, record, agent, gate)
        except asyncio.CancelledError:
            reason = "server_shutdown"
            raise
        finally:
            if runner is not None:
                await runner.aclose()
            self.sessions.pop(call, None)
            self.logs.pop(call, None)
            if call.transferred:
                record.transfer_outcome("done")
                reason = "transferred"
            elif call.end_reason and reason != "server_shutdown":
                reason = call.end_reason
            record.ended(reason, 200)

    def _amd_gate(
        self, call: CallHandle, session: Session, speech: Speech, agent: Agent, record: CallLog
    ) -> AmdGate | None:
        """An outbound call placed with answering-machine detection: its gate."""
        found = self._amd.pop(call, None)
        if found is None:
            return None
        policy, on_amd = found

        def decided(decision: AmdDecision) -> None:
            record.amd(decision)
            on_amd(decision)

        def hang_up(reason: str) -> None:
            record.hangup_reason = reason
            self.transports[call.transport].hangup(call)

        return AmdGate(
            policy,
            session,
            speech,
            RATE,
            language=agent.language,
            on_decision=decided,
            on_action=record.amd_action,
            hang_up=hang_up,
        )

    async def _drive(
        self,
        call: CallHandle,
        session: Session,
        record: CallLog,
        agent: Agent,
        gate: AmdGate | None = None,
    ) -> None:
        """Every 20 ms: hand the session what the media thread received (through
        answering-machine detection's gate while it has one)."""
        if gate is None:
            session.start()
        for digit in call.digits:  # e.g. the menu choice made before the call reached us
            session.dtmf(digit)
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
                    (gate or session).receive(frame)
                    position += FRAME
                    if recorder is not None:  # the agent frame played at about the same tick
                        recorder.add(frame.samples, call.media.played.read())
                if session.engine.ended.is_set():
                    await asyncio.sleep(0.5)  # let the goodbye's last frames go out
                    self.transports[call.transport].hangup(call)
                    break
        finally:
            if gate is not None:
                await gate.close()
            await session.close()
            if recorder is not None:
                await asyncio.get_running_loop().run_in_executor(None, recorder.close)
            media = call.media
            frames = self.records.metrics.jitter_frames
            for outcome, count in (
                ("dropped", media.dropped_in),
                ("lost", media.lost),
                ("late", media.late),
                ("concealed", media.concealed),
            ):
                if count:
                    frames.labels(call.transport, outcome).inc(count)
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


def called_number(uri: str) -> str:
    """The user part of a SIP URI or name-addr: "<sip:+4420@host>" -> "+4420"."""
    inner = uri.split("<", 1)[-1].split(">", 1)[0]
    user = inner.split(":", 1)[-1].split("@", 1)[0] if "@" in inner else ""
    return user.split(";", 1)[0]


class SpeechSource(Protocol):
    """Where a call gets its agent's models (services/pool.py SpeechPool)."""

    async def for_agent(self, agent: Agent) -> Speech: ...

    def refusal(self) -> str | None:
        """Why a new call must be refused now (the models are saturated), or
        None. Called from transports' threads too."""
        ...


class KnowledgeSource(Protocol):
    """Where a call gets its agent's documents (knowledge/index.py KnowledgeIndex)."""

    async def for_call(self, agent: Agent) -> Retrieval | None: ...


class OneSpeech:
    """Every agent on the same models (the CLI's single agent, tests)."""

    def __init__(self, speech: Speech) -> None:
        self.speech = speech

    async def for_agent(self, agent: Agent) -> Speech:
        return self.speech

    def refusal(self) -> str | None:
        return None


@dataclass(slots=True)
class _Dialing:
    answered: asyncio.Event
    done: asyncio.Future[tuple[int, str]]


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
