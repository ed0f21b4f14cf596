"""One LLM, many calls: a reply whose first words are out pauses for another
call's reply that has none yet, and goes on after it, whole and in order.
A reply pauses only once its first words are out, and a tool call never."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from mediaserver.config import InferenceConfig
from mediaserver.inference.engines import Engines
from mediaserver.inference.metrics import ServiceMetrics


class WordsReply:
    """Writes its pieces one by one; stopped, it goes on from where it was."""

    def __init__(self, name: str, pieces: list[str], written: Written) -> None:
        self.name, self.pieces, self.written = name, pieces, written
        self.next = 0

    def __iter__(self) -> Iterator[str]:
        while self.next < len(self.pieces):
            piece = self.pieces[self.next]
            self.next += 1
            time.sleep(0.02)
            self.written.append(self.name)
            yield piece


class Written(list[str]):
    """`reached` is set once `name` has written `after` pieces."""

    def __init__(self, name: str, after: int) -> None:
        super().__init__()
        self.name, self.after = name, after
        self.reached = threading.Event()

    def append(self, name: str) -> None:
        super().append(name)
        if self.count(self.name) >= self.after:
            self.reached.set()


class ScriptLLM:
    def __init__(self, scripts: dict[str, list[str]], first: str, after: int) -> None:
        self.scripts = scripts
        self.written = Written(first, after)  # which reply wrote each piece, in order

    def reply(self, messages: list[dict[str, str]], *args: Any, **kwargs: Any) -> WordsReply:
        name = messages[-1]["content"]
        return WordsReply(name, self.scripts[name], self.written)


def engines(llm: ScriptLLM) -> Engines:
    models = SimpleNamespace(stt=SimpleNamespace(transcribe_many=None), llm=llm, tts=None)
    config = InferenceConfig()
    return Engines(models, ("stt", "llm", "tts"), config, ServiceMetrics())  # type: ignore[arg-type]


LONG = [" One", " two", " three", " four", " five", " six", " seven", " eight", " nine."]
SHORT = [" Yes,", " we", " open", " at", " nine."]


async def two_replies(service: Engines, llm: ScriptLLM, first: str, second: str) -> dict[str, str]:
    """`second` asked for once `first` has written its first pieces; both texts."""
    texts = {first: "", second: ""}

    async def read(name: str) -> None:
        _job, pieces = service.generate([{"role": "user", "content": name}], 64, 0.0)
        async for piece in pieces:
            texts[name] += piece

    reading = asyncio.create_task(read(first))
    assert await asyncio.to_thread(llm.written.reached.wait, 5)
    await read(second)
    await reading
    return texts


def run(scripts: dict[str, list[str]], first: str, second: str, after: int) -> tuple[Any, ...]:
    llm = ScriptLLM(scripts, first, after)
    service = engines(llm)
    try:
        texts = asyncio.run(two_replies(service, llm, first, second))
        paused = service.metrics.llm_paused._value.get()
    finally:
        service.close()
    return texts, llm.written, paused


def test_a_reply_past_its_first_words_pauses_for_a_new_one_and_goes_on_whole() -> None:
    texts, written, paused = run({"a": LONG, "b": SHORT}, "a", "b", after=6)
    assert texts == {"a": "".join(LONG), "b": "".join(SHORT)}
    assert paused == 1
    # b wrote all its words before a wrote its last ones
    assert written.index("b") < 8 and written[-1] == "a"
    assert written[written.index("b") : written.index("b") + len(SHORT)] == ["b"] * len(SHORT)


def test_a_reply_says_its_first_words_before_it_gives_way() -> None:
    texts, written, paused = run({"a": LONG, "b": SHORT}, "a", "b", after=1)
    assert texts == {"a": "".join(LONG), "b": "".join(SHORT)}
    assert paused == 1
    assert written[: written.index("b")] == ["a"] * 5  # its first words (4), and one more


def test_a_tool_call_is_written_whole() -> None:
    call = ['<tool_call>\n{"name":', ' "book",', ' "arguments":', " {", ' "day":', ' "Tue"}}']
    texts, written, paused = run({"a": call, "b": SHORT}, "a", "b", after=6)
    assert paused == 0
    assert written == ["a"] * len(call) + ["b"] * len(SHORT)
    assert texts["a"] == "".join(call)


def test_replies_past_their_first_words_take_turns_so_none_falls_silent() -> None:
    long_a = [f" a{i}" for i in range(30)]
    long_b = [f" b{i}" for i in range(30)]
    texts, written, paused = run({"a": long_a, "b": long_b}, "a", "b", after=6)
    assert texts == {"a": "".join(long_a), "b": "".join(long_b)}
    runs = [name for i, name in enumerate(written) if i == 0 or written[i - 1] != name]
    assert runs[:4] == ["a", "b", "a", "b"]  # a; b's first words and a turn; a's turn; b...
    assert paused >= 3
    first_b = written.index("b")
    assert written[first_b : first_b + 8] == ["b"] * 8  # b's first words, then a turn's worth
