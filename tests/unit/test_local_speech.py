"""LocalSpeech with stand-in models in its real worker threads: the models
take turns on the cores, the work due soonest first, and a phrase said
before comes from a cache."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from mediaserver.cores import FIRST_WORDS
from mediaserver.services import local
from mediaserver.services.local import LocalSpeech


class CountingLLM:
    """Yields a numbered piece every 20 ms; counts what it produced."""

    def __init__(self) -> None:
        self.produced = 0

    def stream(self, messages: Any, max_tokens: int = 0, temperature: float = 0.0) -> Iterator[str]:
        for i in range(max_tokens):
            time.sleep(0.02)
            self.produced += 1
            yield f" w{i}"


class HeldTTS:
    """Synthesis blocks until the test lets it go."""

    sample_rate = 16000

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.started.set()
        self.release.wait(5)
        yield np.zeros(160, np.int16)


@pytest.mark.parametrize("first", [True, False])
def test_a_clause_goes_before_the_words_due_after_it(first: bool) -> None:
    llm, tts = CountingLLM(), HeldTTS()
    speech = LocalSpeech(None, llm, tts)  # type: ignore[arg-type]

    async def scenario() -> tuple[int, int, int]:
        pieces = speech.reply([], max_tokens=50, temperature=0.0)
        await anext(pieces)  # the first clause's worth...
        speaking = asyncio.create_task(speech.synthesize("Hello there", first=first))
        await asyncio.to_thread(tts.started.wait, 5)
        await asyncio.sleep(0.3)
        during = llm.produced  # ...then nothing while the voice has the cores
        await asyncio.sleep(0.3)
        still = llm.produced
        tts.release.set()
        await speaking
        rest = [piece async for piece in pieces]
        return during, still, 1 + len(rest)

    try:
        during, still, total = asyncio.run(scenario())
    finally:
        speech.close()
    assert during == still  # (30 if the reply went on)
    if first:  # due now: only the reply's first words (due before it) and the one under way
        assert during <= FIRST_WORDS + 1
    else:  # due once the clause before it has played: a later word or two goes first
        assert during >= FIRST_WORDS + 2
    assert total == 50 and llm.produced == 50  # and then the reply goes on to its end


class CountingTTS:
    sample_rate = 22050

    def __init__(self) -> None:
        self.said: list[str] = []

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.said.append(text)
        yield np.full(2205 * len(text), len(text), np.int16)


def test_a_phrase_said_before_comes_from_the_cache_and_the_cache_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local, "SPOKEN_CACHE_SIZE", 2)
    tts = CountingTTS()
    speech = LocalSpeech(None, None, tts)  # type: ignore[arg-type]

    async def say(*texts: str) -> list[np.ndarray]:
        return [(await speech.synthesize(text)).samples for text in texts]

    try:
        hello, hello_again, *_ = asyncio.run(say("hello", "hello", "a", "bb", "hello"))
    finally:
        speech.close()
    assert tts.said == ["hello", "a", "bb", "hello"]  # the second hello was cached; then evicted
    assert hello is hello_again and hello.size == 1600 * 5  # at the call's 16 kHz
    assert not hello.flags.writeable  # shared between calls: nobody may change it
