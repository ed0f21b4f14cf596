"""bench.turns' stage times: what STT, the LLM's first clause and its TTS
take on this box with the default local models, for voice-to-voice."""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.turns_audio import RATE, Clip, caller_turns
from mediaserver.agents import DEFAULT_AGENT
from mediaserver.frames import AudioFrame
from mediaserver.speech import Message


def measure_stages() -> dict[str, float]:
    """STT, LLM to its first clause and TTS of it on the default local models, 3 turns."""
    from mediaserver.config import load
    from mediaserver.conversation.clauses import ClauseSplitter
    from mediaserver.services.factory import local_speech

    agent = DEFAULT_AGENT.deterministic()
    speech = local_speech(load(None).models, agent.language)
    speech.load(agent.system_prompt, agent.greeting)
    questions = ["What time do you open on Saturday?", "Where can I park my car?",
                 "How much does a cleaning cost?"]  # fmt: skip
    clips = [c for c in caller_turns() if c.kind == "finished"][:3]
    totals: dict[str, list[float]] = {"stt": [], "llm_first_clause": [], "tts_first_clause": []}

    async def one(clip: Clip, question: str) -> None:
        t0 = time.perf_counter()
        await speech.transcribe(AudioFrame(clip.audio[: clip.voice_end], RATE), "en")
        t1 = time.perf_counter()
        splitter, first = ClauseSplitter(), ""
        messages: list[Message] = [
            {"role": "system", "content": agent.system_prompt},
            {"role": "user", "content": question},
        ]
        pieces = speech.reply(messages, agent.max_reply_tokens, agent.temperature)
        async for piece in pieces:
            if clauses := splitter.feed(piece):
                first = clauses[0]
                break
        await pieces.aclose()  # type: ignore[attr-defined]
        first = first or splitter.flush() or "Sure."
        t2 = time.perf_counter()
        await speech.synthesize(first, first=True)
        t3 = time.perf_counter()
        for key, value in zip(totals, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            totals[key].append(value * 1000)

    async def all_turns() -> None:
        for clip, question in zip(clips, questions, strict=True):
            await one(clip, question)

    try:
        asyncio.run(all_turns())
    finally:
        speech.close()
    return {key: round(statistics.median(values)) for key, values in totals.items()}
