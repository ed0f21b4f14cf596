"""A fixed-answer Speech port, for tests and bench.capacity ONLY: it hears
"hello", answers "Thank you for calling." and voices each word as a quarter
second of a 440 Hz tone. It costs next to nothing, so the media plane's own
limit shows. Selected with MEDIASERVER_FAKE_SPEECH=1 (never in production);
MEDIASERVER_FAKE_SPEECH_HEARD: what it hears instead of "hello";
MEDIASERVER_FAKE_SPEECH_FACTS=1: it answers with the knowledge-base facts its
prompt was given, if any (a test sees what retrieval put there)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from mediaserver.frames import AudioFrame
from mediaserver.speech import Message

ENV = "MEDIASERVER_FAKE_SPEECH"
HEARD_ENV = "MEDIASERVER_FAKE_SPEECH_HEARD"
FACTS_ENV = "MEDIASERVER_FAKE_SPEECH_FACTS"
FACTS_PREFIX = "Facts from "  # conversation/knowledge.py's system messages
ANSWER = "Thank you for calling."
WORD_SECONDS = 0.25
LEVEL = 8000


def wanted() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


class FixedSpeech:
    def __init__(self, rate: int = 16000, heard: str | None = None) -> None:
        self.rate = rate
        self.heard = heard if heard is not None else os.environ.get(HEARD_ENV, "hello")
        self.echo_facts = os.environ.get(FACTS_ENV, "") not in ("", "0")
        t = np.arange(int(WORD_SECONDS * rate)) / rate
        self._word = (LEVEL * np.sin(2 * np.pi * 440 * t)).astype(np.int16)

    async def transcribe(
        self, audio: AudioFrame, language: str | None = None, prompt: str | None = None
    ) -> str:
        await asyncio.sleep(0.05)
        return self.heard

    async def reply(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        *,
        tools: list[dict[str, Any]] | None = None,
    ) -> AsyncIterator[str]:
        answer = ANSWER
        if self.echo_facts:
            facts = [
                m["content"]
                for m in messages
                if m.get("role") == "system" and m.get("content", "").startswith(FACTS_PREFIX)
            ]
            answer = " ".join(facts) or answer
        for i, word in enumerate(answer.split()):
            await asyncio.sleep(0.02)
            yield (" " if i else "") + word

    async def synthesize(self, text: str, *, first: bool = False) -> AudioFrame:
        return AudioFrame(np.tile(self._word, max(1, len(text.split()))), self.rate)
