"""The reply pipeline on its own, on virtual time: a cancelled reply leaves
no task behind and closes the LLM's stream at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import numpy as np

from mediaserver.agents import Agent
from mediaserver.conversation.history import History
from mediaserver.conversation.reply import Reply
from mediaserver.conversation.speaker import Speaker
from mediaserver.conversation.turns import Turn
from mediaserver.frames import AudioFrame
from native import playout
from tests.virtual_time import run_virtual

RATE = 16000


class Chatty:
    """An LLM that has twenty sentences ready at once, and a slow TTS."""

    def __init__(self) -> None:
        self.stream_closed = False
        self.synthesized: list[str] = []

    async def transcribe(self, *args: object, **kwargs: object) -> str:
        return ""

    async def reply(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        try:
            for i in range(20):
                yield f"Sentence number {i}. "
        finally:
            self.stream_closed = True

    async def synthesize(self, text: str, *, first: bool = False) -> AudioFrame:
        await asyncio.sleep(1.0)
        self.synthesized.append(text)
        return AudioFrame(np.full(RATE // 2, 1000, np.int16), RATE)


def speaker_for(speech: Chatty, tasks: set[asyncio.Task[None]]) -> Speaker:
    def spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    return Speaker(
        Agent(),
        speech,  # type: ignore[arg-type]
        playout.playout_buffer(RATE, seconds=60),
        RATE,
        History("You help.", 1000),
        first_token_timeout_s=10.0,
        tts_timeout_s=10.0,
        on_event=lambda event: None,
        spawn=spawn,
    )


def test_a_cancelled_reply_leaves_no_task_and_closes_the_llm_stream() -> None:
    async def main() -> tuple[Chatty, list[asyncio.Task[Any]]]:
        speech, tasks = Chatty(), set[asyncio.Task[None]]()
        speaker = speaker_for(speech, tasks)
        speaker.speak(Reply(Turn(user_text="Tell me everything.")), caller_talking=False)
        await asyncio.sleep(1.5)  # the clause queue is full; the LLM waits on it
        speaker.interrupt()
        await asyncio.sleep(0.1)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in left:
            task.cancel()
        return speech, left

    speech, left = run_virtual(main())
    assert left == []
    assert speech.stream_closed
    assert len(speech.synthesized) == 1  # no clause voiced after the cut
