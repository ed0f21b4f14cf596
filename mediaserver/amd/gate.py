"""One outbound call's answering-machine detection, between the callee's
frames and the conversation: while the detector decides, the frames go to
it (the greeting is held); a person (or unknown) gets the conversation at
once; a machine gets the voicemail message after its beep or greeting, then
the hang-up, or the hang-up at once.

The transcript of the first speech is asked of the Speech port in a task
(one per call, with a timeout): the models never run on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Literal, Protocol

import numpy as np

from mediaserver.amd.detector import AmdConfig, AmdDecision, AmdDetector
from mediaserver.amd.policy import AmdPolicy
from mediaserver.frames import AudioFrame, InboundAudio
from mediaserver.speech import Speech

log = logging.getLogger(__name__)

Phase = Literal["deciding", "waiting", "message", "conversation", "hung_up"]
Action = Literal["converse", "message", "hangup"]


class Conversation(Protocol):
    """What the gate drives: the call's Session."""

    def voiced(self, frame: AudioFrame) -> bool: ...

    def start(self) -> None: ...

    def receive(self, inbound: AudioFrame) -> None: ...

    def leave_message(self, text: str, reason: str) -> None: ...


class AmdGate:
    def __init__(
        self,
        policy: AmdPolicy,
        conversation: Conversation,
        speech: Speech | None,
        rate: int,
        *,
        language: str | None = None,
        on_decision: Callable[[AmdDecision], None] = lambda decision: None,
        # what was done (converse, message, hangup), and whether a beep was heard by then
        on_action: Callable[[Action, bool], None] = lambda action, beep: None,
        hang_up: Callable[[str], None] = lambda reason: None,
        config: AmdConfig | None = None,
        stt_timeout_s: float = 3.0,
    ) -> None:
        self.policy = policy
        self.conversation = conversation
        self.speech = speech
        self.language = language
        self.on_decision = on_decision
        self.on_action = on_action
        self.hang_up = hang_up
        self.stt_timeout_s = stt_timeout_s
        if speech is None:  # nobody to ask: a short first utterance is a person at once
            config = AmdConfig(transcript_wait_s=0.0) if config is None else config
        self.detector = AmdDetector(rate, config)
        self.phase: Phase = "deciding"
        self._audio = InboundAudio(rate, 8.0)
        self._transcribing: asyncio.Task[None] | None = None

    def receive(self, frame: AudioFrame) -> None:
        """The callee's next 20 ms."""
        match self.phase:
            case "conversation":
                self.conversation.receive(frame)
            case "deciding" | "waiting":
                self._audio.append(frame)
                self.detector.feed(frame, self.conversation.voiced(frame))
                self._transcribe_if_asked()
                self._step()
            case "message":  # the machine records; its sounds are not a turn to answer
                self.conversation.receive(AudioFrame.silence(frame.rate, frame.position))
            case "hung_up":
                pass

    def _step(self) -> None:
        detector = self.detector
        if self.phase == "deciding" and (decision := detector.decision) is not None:
            log.info("answering-machine detection: %s", decision)
            self.on_decision(decision)
            if decision.verdict != "machine":
                self._act("converse")
                self.phase = "conversation"
                self.conversation.start()
                return
            if self.policy.on_machine == "hangup":
                self._finish("machine")
                return
            self.phase = "waiting"
        if self.phase == "waiting" and detector.ready_for_message:
            if detector.carrier:  # a network announcement: nobody will hear a message
                self._finish("carrier")
                return
            self._act("message")
            self.phase = "message"
            self.conversation.leave_message(self.policy.message, "voicemail")

    def _finish(self, reason: str) -> None:
        self._act("hangup")
        self.phase = "hung_up"
        self.hang_up(reason)

    def _act(self, action: Action) -> None:
        log.info("answering-machine detection: %s", action)
        self.on_action(action, self.detector.beep)

    def _transcribe_if_asked(self) -> None:
        span = self.detector.transcript_span
        if span is None or self._transcribing is not None or self.speech is None:
            return
        audio = self._audio.slice(*span)
        self._transcribing = asyncio.get_running_loop().create_task(self._transcribe(audio))

    async def _transcribe(self, audio: np.ndarray) -> None:
        assert self.speech is not None
        try:
            async with asyncio.timeout(self.stt_timeout_s):
                frame = AudioFrame(audio, self.detector.rate)
                text = await self.speech.transcribe(frame, self.language)
        except Exception as exc:  # no transcript: the detector decides on timing alone
            log.warning("answering-machine detection: no transcript (%s)", exc)
            return
        log.info("answering-machine detection heard %r", text)
        self.detector.heard(text)
        if self.phase in ("deciding", "waiting"):
            self._step()

    async def close(self) -> None:
        if self._transcribing is not None:
            self._transcribing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._transcribing
