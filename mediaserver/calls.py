"""Running calls: a Session per call, fed from its transport's buffers."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from mediaserver.agents import Agent
from mediaserver.config import VadConfig
from mediaserver.conversation.ports import Speech
from mediaserver.events import CallEvent
from mediaserver.frames import AudioFrame
from mediaserver.recording import Recorder
from mediaserver.session import RATE, Session
from mediaserver.transports.sip import FRAME, CallHandler, SipCall, SipServer

log = logging.getLogger(__name__)


class SipCalls(CallHandler):
    """Answers SIP calls with the agent: one Session and one task per call."""

    def __init__(self, agent: Agent, speech: Speech, vad: VadConfig, data_dir: Path) -> None:
        self.agent = agent
        self.recordings = data_dir / "recordings"
        self.speech = speech
        self.vad = vad
        self.server: SipServer | None = None
        self.sessions: dict[int, Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def started(self, call: SipCall) -> None:
        call_id = call.info.call_id

        def on_event(event: CallEvent) -> None:
            log.info("call %d: %s", call_id, event)

        session = Session(
            self.agent, self.speech, self.vad, outbound=call.media.outbound, on_event=on_event
        )
        self.sessions[call_id] = session
        log.info("call %d from %s answered", call_id, call.info.remote_uri)
        task = asyncio.create_task(self._drive(call, session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def dtmf(self, call: SipCall, digit: str) -> None:
        if (session := self.sessions.get(call.info.call_id)) is not None:
            session.dtmf(digit)

    def ended(self, call: SipCall, code: int, reason: str) -> None:
        log.info("call %d ended: %d %s", call.info.call_id, code, reason)

    async def _drive(self, call: SipCall, session: Session) -> None:
        """Every 20 ms: hand the session what the media thread received."""
        session.start()
        position = 0
        recorder = None
        if self.agent.record:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            recorder = Recorder(self.recordings / f"{stamp}-sip{call.info.call_id}.wav")
            log.info("call %d recording to %s", call.info.call_id, recorder.path)
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
                if session.engine.ended.is_set() and self.server is not None:
                    await asyncio.sleep(0.5)  # let the goodbye's last frames go out
                    self.server.hangup(call)
                    break
        finally:
            await session.close()
            if recorder is not None:
                await asyncio.get_running_loop().run_in_executor(None, recorder.close)
            self.sessions.pop(call.info.call_id, None)
            log.info(
                "call %d media: received %.2f s, sound %.2f s, speech %.2f s, dropped %d frames",
                call.info.call_id,
                session.frames_in * FRAME / RATE,
                session.sound_frames * FRAME / RATE,
                session.voiced_frames * FRAME / RATE,
                call.media.dropped_in,
            )
            log.info("call %d pacing: %s", call.info.call_id, call.media.pacing.summary())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
