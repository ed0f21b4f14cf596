"""bench.turns' barge-in part: sounds over the agent's speech (hums, coughs,
words), through a whole Session on virtual time with the real STT: which
ones cut the agent off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from bench.turns_audio import RATE, Clip
from mediaserver.agents import DEFAULT_AGENT
from mediaserver.config import VadConfig
from mediaserver.events import CallEvent, Interrupted
from mediaserver.frames import AudioFrame
from mediaserver.session import Session
from mediaserver.speech import Message
from models.stt import WhisperSTT

FRAME = RATE // 50


class OverAgentSpeech:
    """The real STT (blocking: the clock is virtual); a long fixed reply."""

    def __init__(self, stt: WhisperSTT) -> None:
        self.stt = stt

    async def transcribe(
        self, audio: AudioFrame, language: str | None = None, prompt: str | None = None
    ) -> str:
        return self.stt.transcribe(audio.samples, prompt).text

    async def reply(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        *,
        tools: list[dict[str, Any]] | None = None,
    ) -> AsyncIterator[str]:
        yield "Sure."

    async def synthesize(self, text: str, *, first: bool = False) -> AudioFrame:
        return AudioFrame(np.full(RATE * 6, 500, np.int16), RATE)  # six seconds of agent


def barge_in(vad: VadConfig, clips: list[Clip], stt: WhisperSTT) -> dict[str, Any]:
    """Each sound 1 s into a 6 s greeting: was the greeting cancelled?"""
    from tests.virtual_time import run_virtual

    wrong_cut = wrong_resume = noise = words_ = 0
    for clip in clips:
        events: list[CallEvent] = []

        async def call(clip: Clip = clip, events: list[CallEvent] = events) -> None:
            session = Session(DEFAULT_AGENT, OverAgentSpeech(stt), vad, on_event=events.append)
            session.start()
            for pos in range(0, clip.audio.size + RATE * 4 - FRAME + 1, FRAME):
                samples = np.zeros(FRAME, np.int16)
                chunk = clip.audio[pos : pos + FRAME]
                samples[: chunk.size] = chunk
                session.tick(AudioFrame(samples, RATE, pos))
                await asyncio.sleep(0.02)
            await session.close()

        run_virtual(call())
        cut = any(isinstance(e, Interrupted) for e in events)
        if clip.truth == "interruption":
            words_ += 1
            wrong_resume += not cut
        else:
            noise += 1
            wrong_cut += cut
    return {
        "wrong_cut_rate": round(wrong_cut / noise, 3),
        "wrong_resume_rate": round(wrong_resume / words_, 3),
        "sounds": noise,
        "interruptions": words_,
    }
