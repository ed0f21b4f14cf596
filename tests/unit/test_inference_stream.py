"""The service's token stream: pieces the model wrote while the HTTP side was
busy go out as one, in order, and an error after them still comes through."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from mediaserver.config import InferenceConfig
from mediaserver.inference.engines import Engines
from mediaserver.inference.metrics import ServiceMetrics


class ScriptedLLM:
    """Yields its pieces, then raises `fail` if given; `done` is set when it ends."""

    def __init__(self, pieces: list[str], fail: Exception | None = None) -> None:
        self.pieces, self.fail = pieces, fail
        self.done = threading.Event()

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        try:
            yield from self.pieces
            if self.fail is not None:
                raise self.fail
        finally:
            self.done.set()

    reply = stream  # a reply that is never paused here


def engines(llm: ScriptedLLM) -> Engines:
    unused = SimpleNamespace(transcribe_many=None)
    models = SimpleNamespace(stt=unused, llm=llm, tts=None)
    return Engines(models, ("stt", "llm", "tts"), InferenceConfig(), ServiceMetrics())  # type: ignore[arg-type]


async def read_all(llm: ScriptedLLM) -> list[str]:
    _job, pieces = engines(llm).generate([{"role": "user", "content": "hi"}], 32, 0.0)
    await asyncio.get_running_loop().run_in_executor(None, llm.done.wait, 5)
    await asyncio.sleep(0.05)  # the pieces' call_soon_threadsafe callbacks have run
    return [piece async for piece in pieces]


def test_pieces_that_came_while_the_reader_was_away_go_out_as_one() -> None:
    assert asyncio.run(read_all(ScriptedLLM(["Yes", ",", " we", " open", " at nine."]))) == [
        "Yes, we open at nine."
    ]


def test_an_error_after_the_pieces_still_ends_the_stream_with_it() -> None:
    llm = ScriptedLLM(["Yes", ", we"], fail=RuntimeError("the model failed"))
    got: list[str] = []

    async def read() -> None:
        _job, pieces = engines(llm).generate([{"role": "user", "content": "hi"}], 32, 0.0)
        await asyncio.get_running_loop().run_in_executor(None, llm.done.wait, 5)
        await asyncio.sleep(0.05)
        async for piece in pieces:
            got.append(piece)  # noqa: PERF401 (what came before the error is the point)

    with pytest.raises(RuntimeError, match="the model failed"):
        asyncio.run(read())
    assert got == ["Yes, we"]
