"""How the service shares a CPU between its models: each model is warmed on
the lane thread that runs it (OpenMP's pool belongs to the thread that first
runs it), and the models take turns on the cores, the work due soonest first
(mediaserver/cores.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mediaserver.config import InferenceConfig
from mediaserver.cores import FIRST_WORDS
from mediaserver.inference.engines import FIRST_CLAUSE, LATER_CLAUSE, Engines
from mediaserver.inference.metrics import ServiceMetrics


class Models:
    """Fake models that note the thread of each call and can hold the voice."""

    def __init__(self, llm_fails: bool = False, pieces: list[str] | None = None) -> None:
        self.threads: dict[str, str] = {}
        self.pieces = pieces or ["Yes", ",", " we", " open", " at", " nine."]
        self.token_times: list[float] = []
        self.transcribed_at: list[float] = []
        self.voice_done_at = 0.0
        self.voice_release = threading.Event()
        self.voice_release.set()
        self.llm_fails = llm_fails
        self.stt = SimpleNamespace(transcribe_many=self.transcribe_many)
        self.llm = SimpleNamespace(stream=self.stream, reply=self.stream)
        self.tts = SimpleNamespace(synthesize=self.synthesize, sample_rate=22050)

    def transcribe_many(self, requests: list[Any]) -> list[Any]:
        self.threads.setdefault("stt", threading.current_thread().name)
        self.transcribed_at.append(time.monotonic())
        return [SimpleNamespace(text="") for _ in requests]

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        self.threads.setdefault("llm", threading.current_thread().name)
        if self.llm_fails:
            raise RuntimeError("no such model file")
        for piece in self.pieces:
            time.sleep(0.01)
            self.token_times.append(time.monotonic())
            yield piece

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.threads.setdefault("tts", threading.current_thread().name)
        self.voice_release.wait(5)
        self.voice_done_at = time.monotonic()
        yield np.zeros(100, np.int16)


def engines(models: Models, share_cores: bool = True) -> Engines:
    config = InferenceConfig(share_cores=share_cores)
    return Engines(models, ("stt", "llm", "tts"), config, ServiceMetrics())  # type: ignore[arg-type]


def test_each_model_is_warmed_on_the_thread_of_its_lane() -> None:
    models = Models()
    service = engines(models)
    try:
        service.load()
    finally:
        service.close()
    assert models.threads == {"stt": "lane-stt", "llm": "lane-llm", "tts": "lane-tts"}
    assert service.loaded


def test_a_model_that_fails_its_warm_up_fails_the_load() -> None:
    service = engines(Models(llm_fails=True))
    try:
        with pytest.raises(RuntimeError, match="no such model file"):
            service.load()
        assert not service.loaded
    finally:
        service.close()


async def reply_during_a_clause(models: Models, service: Engines, priority: int) -> list[str]:
    """A first (or later) clause held in synthesis for 0.3 s while a reply streams."""
    models.voice_release.clear()
    speaking = asyncio.create_task(service.synthesize("Hello there.", priority))
    await asyncio.sleep(0.05)  # the clause is in synthesis
    _job, pieces = service.generate([{"role": "user", "content": "hi"}], 32, 0.0)
    threading.Timer(0.3, models.voice_release.set).start()
    text = [piece async for piece in pieces]
    await speaking
    return text


@pytest.mark.parametrize("priority", [FIRST_CLAUSE, LATER_CLAUSE])
def test_a_reply_waits_for_a_clause_that_holds_the_cores(priority: int) -> None:
    models = Models()
    service = engines(models)
    try:
        text = asyncio.run(reply_during_a_clause(models, service, priority))
    finally:
        service.close()
    assert "".join(text) == "Yes, we open at nine."
    assert all(t > models.voice_done_at for t in models.token_times)  # none while it spoke


def test_with_cores_not_shared_the_reply_runs_on_while_the_voice_works() -> None:
    models = Models()
    service = engines(models, share_cores=False)  # a GPU box
    try:
        asyncio.run(reply_during_a_clause(models, service, FIRST_CLAUSE))
    finally:
        service.close()
    during = [t for t in models.token_times if t < models.voice_done_at]
    assert len(during) == 6


def test_a_transcript_waits_for_a_replys_first_words_but_not_for_its_later_ones() -> None:
    words = [f" w{i}" for i in range(30)]
    models = Models(pieces=words)
    service = engines(models)

    async def scenario() -> None:
        _job, pieces = service.generate([{"role": "user", "content": "hi"}], 64, 0.0)
        await anext(pieces)  # the reply is under way, its first words due now
        await service.transcribe(np.zeros(1600, np.int16), None, None)
        async for _ in pieces:
            pass

    try:
        asyncio.run(scenario())
    finally:
        service.close()
    [heard] = models.transcribed_at
    written_before = sum(t < heard for t in models.token_times)
    # it took the cores once the first words were out (FIRST_WORDS + the one under way)
    assert FIRST_WORDS <= written_before <= FIRST_WORDS + 2
    assert len(models.token_times) == 30


def test_without_an_llm_the_service_loads_and_serves_only_stt_and_tts() -> None:
    models = Models()
    models.llm = None  # type: ignore[assignment]  # [models] llm_url: another server's
    service = engines(models)
    try:
        service.load()
    finally:
        service.close()
    assert models.threads == {"stt": "lane-stt", "tts": "lane-tts"}
    assert service.served == ("stt", "tts") and service.llm_name is None
    assert [lane.name for lane in service.speech_lanes] == ["stt", "tts"]
