"""One call's media state: VAD on the inbound frames, the turn engine, and
the playout buffer. Transports (SIP, WebRTC, the offline harness) tick it
every 20 ms; all per-call state lives here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from mediaserver.agents import Agent
from mediaserver.config import VadConfig
from mediaserver.conversation.engine import TurnConfig, TurnEngine
from mediaserver.conversation.knowledge import Retrieval
from mediaserver.events import CallEvent
from mediaserver.frames import AudioFrame
from mediaserver.media.end_of_turn import EndOfTurn, TurnModel
from mediaserver.media.vad import VoiceActivity
from mediaserver.speech import Speech
from mediaserver.tools.spec import ToolRunner
from native import playout

RATE = 16000  # one internal rate per session: what Whisper wants


class Session:
    def __init__(
        self,
        agent: Agent,
        speech: Speech,
        vad: VadConfig,
        *,
        turns: TurnConfig | None = None,
        on_event: Callable[[CallEvent], None] | None = None,
        outbound: playout.PlayoutBuffer | None = None,
        turn_model: TurnModel | None = None,
        retrieval: Retrieval | None = None,
        tools: ToolRunner | None = None,
    ) -> None:
        # the agent's audio, drained by the transport (e.g. pjsua2's media thread)
        self.playout = outbound or playout.playout_buffer(RATE, seconds=120)
        self.end_of_turn: EndOfTurn | None = None
        if vad.end_of_turn != "off":
            if turn_model is None:
                raise ValueError(f"vad.end_of_turn = {vad.end_of_turn!r} needs its model")
            self.end_of_turn = EndOfTurn(vad, RATE, turn_model)
            vad = dataclasses.replace(vad, end_ms=vad.end_of_turn_max_ms)  # the model ends sooner
        self.vad = VoiceActivity(vad, RATE)
        turns = turns or TurnConfig(speculate_after_ms=vad.speculate_ms)
        self.engine = TurnEngine(
            agent,
            speech,
            self.playout,
            RATE,
            config=turns,
            on_event=on_event,
            retrieval=retrieval,
            tools=tools,
        )
        self.frames_in = 0  # the caller's 20 ms frames received
        self.voiced_frames = 0  # of which speech
        self.sound_frames = 0  # of which above -45 dBFS

    def start(self) -> None:
        self.engine.start()

    def tick(self, inbound: AudioFrame) -> np.ndarray:
        """One 20 ms tick: the agent's next frame out (a view, reused), the caller's frame in."""
        out = self.playout.read()
        self.receive(inbound)
        return out

    def receive(self, inbound: AudioFrame) -> None:
        """The caller's next 20 ms (for transports that drain the playout themselves)."""
        voiced = self.vad.is_speech(inbound)
        self.frames_in += 1
        self.voiced_frames += voiced
        self.sound_frames += self.vad.gate.last_level_db > -45.0
        event = self.vad.endpointer.update(voiced, inbound.position, inbound.end)
        if self.end_of_turn is not None:
            event = self.end_of_turn.update(inbound, event, self.vad.endpointer)
        self.engine.on_frame(inbound, event, voiced)

    def voiced(self, inbound: AudioFrame) -> bool:
        """VAD alone, the engine not told (answering-machine detection listens first)."""
        return self.vad.is_speech(inbound)

    def leave_message(self, text: str, reason: str) -> None:
        """Speak `text` (a voicemail message) instead of the greeting, then hang up."""
        self.engine.say_and_hang_up(text, reason)

    def transfer_failed(self) -> None:
        self.engine.transfer_failed()

    def dtmf(self, digit: str) -> None:
        self.engine.on_dtmf(digit)

    async def close(self) -> None:
        await self.engine.close()
