"""The remote Speech adapter against a real HTTP server that answers like an
OpenAI-compatible engine, or breaks like one: each failure is a typed error
that says whether asking again may help, within the deadline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import numpy as np
import pytest

from mediaserver.agents import Agent
from mediaserver.config import ModelsConfig
from mediaserver.frames import AudioFrame
from mediaserver.services.remote import RemoteSpeech
from mediaserver.speech import BadResponse, SpeechError, TimedOut, Unavailable
from tests.openai_stub import Script, StubServer
from tests.speech import speak

T = TypeVar("T")


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def script(stub: StubServer) -> Iterator[Script]:
    stub.script.chat = stub.script.speech = "ok"
    stub.script.requests.clear()
    yield stub.script


def run(stub: StubServer, use: Callable[[RemoteSpeech], Awaitable[T]], timeout: float = 2.0) -> T:
    async def main() -> T:
        config = ModelsConfig(backend="remote", url=stub.url, timeout_seconds=timeout)
        async with httpx.AsyncClient(timeout=timeout) as client:
            return await use(RemoteSpeech(config, client))

    return asyncio.run(main())


async def answer(speech: RemoteSpeech) -> str:
    pieces = speech.reply([{"role": "user", "content": "hi"}], 20, 0.0)
    return "".join([piece async for piece in pieces])


def test_a_working_engine_transcribes_streams_a_reply_and_speaks_at_the_call_rate(
    stub: StubServer, script: Script
) -> None:
    async def use(speech: RemoteSpeech) -> tuple[str, str, AudioFrame]:
        heard = await speech.transcribe(AudioFrame(np.zeros(8000, np.int16), 16000), "en", "x")
        return heard, await answer(speech), await speech.synthesize("Hello there", first=True)

    heard, said, voice = run(stub, use)
    assert heard == script.transcript
    assert said.strip() == script.answer
    assert voice.rate == 16000  # the engine's 22050 Hz, resampled at this edge
    assert voice.samples.size == pytest.approx(16000 * 0.4, abs=200)


@pytest.mark.parametrize(
    ("mode", "error", "retryable"),
    [
        ("malformed", BadResponse, False),
        ("garbage", BadResponse, False),
        ("500", Unavailable, True),
        ("503", Unavailable, True),
        ("stall", TimedOut, True),
        ("drop", Unavailable, True),
    ],
)
def test_a_broken_chat_stream_is_a_typed_error(
    stub: StubServer, script: Script, mode: str, error: type[SpeechError], retryable: bool
) -> None:
    script.chat = mode
    with pytest.raises(error) as caught:
        run(stub, answer, timeout=1.0)
    assert caught.value.retryable is retryable


def test_a_refusal_marks_the_service_saturated_for_its_retry_after(
    stub: StubServer, script: Script
) -> None:
    script.chat = "503"

    async def use(speech: RemoteSpeech) -> bool:
        with pytest.raises(Unavailable):
            await answer(speech)
        return speech.saturated

    assert run(stub, use)


@pytest.mark.parametrize(
    ("mode", "message"),
    [("wrong_rate", "wrong sample rate"), ("pcm_no_rate", "sample rate"), ("500", "500")],
)
def test_speech_at_an_unsaid_or_contradicted_rate_is_refused(
    stub: StubServer, script: Script, mode: str, message: str
) -> None:
    script.speech = mode

    async def use(speech: RemoteSpeech) -> AudioFrame:
        return await speech.synthesize("Hello")

    with pytest.raises(SpeechError, match=message):
        run(stub, use)


def test_the_service_gone_is_unavailable_and_a_phrase_said_before_still_plays(
    script: Script,
) -> None:
    async def main() -> tuple[AudioFrame, AudioFrame]:
        async with httpx.AsyncClient(timeout=1.0) as client:
            with StubServer() as server:
                config = ModelsConfig(backend="remote", url=server.url, timeout_seconds=1.0)
                speech = RemoteSpeech(config, client)
                await speech.prime(["Sorry, I'm having trouble."])
            # the server is gone now
            with pytest.raises(Unavailable, match="cannot connect"):
                await speech.transcribe(AudioFrame(np.zeros(1600, np.int16), 16000))
            with pytest.raises(Unavailable):
                await answer(speech)
            cached = await speech.synthesize("Sorry, I'm having trouble.")
            return cached, cached

    cached, _ = asyncio.run(main())
    assert cached.samples.size > 0


def test_closing_a_reply_closes_the_stream_at_the_engine(stub: StubServer, script: Script) -> None:
    script.chat = "stall"
    before = script.disconnected

    async def use(speech: RemoteSpeech) -> str:
        pieces = speech.reply([{"role": "user", "content": "hi"}], 20, 0.0)
        first = await anext(pieces)
        await pieces.aclose()  # the caller barged in
        for _ in range(100):  # the server notices the disconnect on its own loop
            if script.disconnected > before:
                break
            await asyncio.sleep(0.05)
        return first

    assert run(stub, use, timeout=5.0) == "We"
    assert script.disconnected == before + 1


def talk(stub: StubServer, tmp_path: Path) -> list[dict[str, object]]:
    """`mediaserver talk` on backend = "remote" against the stub: the turns."""
    config = tmp_path / "remote.toml"
    config.write_text(f'[models]\nbackend = "remote"\nurl = "{stub.url}"\ntimeout_seconds = 2.0\n')
    speak("What time do you open today", tmp_path / "q.wav")
    out = subprocess.run(
        [
            *(sys.executable, "-m", "mediaserver", "talk", "--config", str(config)),
            *("--in", str(tmp_path / "q.wav"), "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return list(json.loads(out.stdout)["turns"])


def test_the_turn_engine_runs_unchanged_on_the_remote_backend(
    stub: StubServer, script: Script, tmp_path: Path
) -> None:
    (turn,) = talk(stub, tmp_path)
    assert turn["user_text"] == script.transcript
    assert turn["agent_text"] == script.answer.strip()
    script.chat = "malformed"
    (turn,) = talk(stub, tmp_path)
    assert turn["agent_text"] == Agent().fallback
