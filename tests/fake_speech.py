"""A fake caller and fake models around the real turn engine, on virtual time.

The caller's audio carries the index of its scripted utterance as its
amplitude, so the fake STT can say which line was spoken; the fake TTS makes
a quarter second of audio per word at a fixed level."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mediaserver.agents import Agent
from mediaserver.conversation.engine import TurnConfig, TurnEngine
from mediaserver.conversation.knowledge import Retrieval
from mediaserver.events import CallEvent, SpeechEnded, SpeechStarted
from mediaserver.frames import AudioFrame
from mediaserver.speech import Unavailable
from mediaserver.tools.spec import ToolRunner
from native import playout

RATE = 16000
FRAME = 320
AGENT_LEVEL = 500
WORD_SECONDS = 0.25


@dataclass
class Line:
    at: float  # seconds into the call
    seconds: float
    text: str
    pause: tuple[float, float] | None = None  # (offset, seconds) of silence inside

    def voiced_at(self, t: float) -> bool:
        if not self.at <= t < self.at + self.seconds:
            return False
        return self.pause is None or not (
            self.at + self.pause[0] <= t < self.at + self.pause[0] + self.pause[1]
        )

    @property
    def voiced_seconds(self) -> float:
        return self.seconds - (self.pause[1] if self.pause else 0.0)


@dataclass
class FakeSpeech:
    stt_seconds: float = 0.2
    first_token_seconds: float = 0.15
    token_seconds: float = 0.05
    tts_seconds: float = 0.05
    answers: list[str] = field(default_factory=list)
    lines: Sequence[Line] = ()
    fail_llm: bool = False
    stall_llm: bool = False
    fail_stt: bool = False  # the models are unreachable (a remote service gone)
    wrong_rate: frozenset[str] = frozenset()  # clauses voiced at 8 kHz instead of the call's
    transcribed: list[str] = field(default_factory=list)
    languages: list[str | None] = field(default_factory=list)  # asked of each transcription
    stt_prompts: list[str | None] = field(default_factory=list)  # and the prompt it was given
    prompts: list[list[dict[str, str]]] = field(default_factory=list)
    tools_offered: list[list[dict[str, Any]] | None] = field(default_factory=list)

    async def transcribe(
        self, frame: AudioFrame, language: str | None = None, prompt: str | None = None
    ) -> str:
        assert frame.rate == RATE
        audio = frame.samples
        self.languages.append(language)
        if self.fail_stt:
            raise Unavailable("transcription: cannot connect to http://127.0.0.1:9/v1")
        self.stt_prompts.append(prompt)
        await asyncio.sleep(self.stt_seconds)
        voiced = np.abs(audio[audio != 0]) if audio.size else audio
        level = int(np.median(voiced)) if voiced.size else 0
        text = ""
        if level >= 1000:
            line = self.lines[level - 1000]
            words = line.text.split()
            heard = round(len(words) * voiced.size / RATE / line.voiced_seconds)
            text = " ".join(words[: max(1, heard)])
        self.transcribed.append(text)
        return text

    async def reply(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        temperature: float,
        *,
        tools: list[dict[str, Any]] | None = None,
    ) -> AsyncIterator[str]:
        self.prompts.append(messages)
        self.tools_offered.append(tools)
        if self.stall_llm:
            await asyncio.sleep(3600)
        if self.fail_llm:
            raise RuntimeError("model crashed")
        answer = self.answers.pop(0) if self.answers else "I see."
        await asyncio.sleep(self.first_token_seconds)
        for i, word in enumerate(answer.split(" ")):
            if i:
                await asyncio.sleep(self.token_seconds)
            yield (" " if i else "") + word

    async def synthesize(self, text: str, *, first: bool = False) -> AudioFrame:
        await asyncio.sleep(self.tts_seconds)
        rate = 8000 if text in self.wrong_rate else RATE
        return AudioFrame(
            np.full(int(len(text.split()) * WORD_SECONDS * rate), AGENT_LEVEL, np.int16), rate
        )


@dataclass
class CallResult:
    engine: TurnEngine
    out: np.ndarray  # what the caller heard, 16 kHz
    events: list[CallEvent]


def simulate(
    speech: FakeSpeech,
    seconds: float,
    *,
    agent: Agent | None = None,
    config: TurnConfig | None = None,
    start_ms: int = 100,
    end_ms: int = 600,
    min_ms: int = 250,
    digits: dict[float, str] | None = None,
    retrieval: Retrieval | None = None,
    tools: ToolRunner | None = None,
) -> CallResult:
    """Tick a call every 20 ms: the caller hears one playout frame, then the
    engine gets one inbound frame with the VAD event a real endpointer would
    have produced for the scripted lines."""

    async def main() -> CallResult:
        buf = playout.playout_buffer(RATE, seconds=60)
        events: list[CallEvent] = []
        engine = TurnEngine(
            agent or Agent(),
            speech,
            buf,
            RATE,
            config=config,
            on_event=events.append,
            retrieval=retrieval,
            tools=tools,
        )
        engine.start()
        heard = []
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        starts = {round((ln.at * 1000 + start_ms) / 20): ln for ln in speech.lines}
        ends = {round((ln.at * 1000 + ln.seconds * 1000 + end_ms) / 20): ln for ln in speech.lines}
        presses = {round(at * 50): digit for at, digit in (digits or {}).items()}
        for tick in range(int(seconds * 50)):
            heard.append(buf.read().copy())
            pos = tick * FRAME
            t = tick * 0.02
            samples = np.zeros(FRAME, np.int16)
            for i, ln in enumerate(speech.lines):
                if ln.voiced_at(t):
                    samples[:] = 1000 + i
            voiced = bool(samples.any())
            event: SpeechStarted | SpeechEnded | None = None
            if (ln := starts.get(tick)) is not None and ln.seconds * 1000 >= start_ms:
                event = SpeechStarted(int(ln.at * RATE))
            if (ln := ends.get(tick)) is not None and ln.seconds * 1000 >= start_ms:
                event = SpeechEnded(
                    int(ln.at * RATE),
                    int((ln.at + ln.seconds) * RATE),
                    too_short=ln.seconds * 1000 < min_ms,
                )
            engine.on_frame(AudioFrame(samples, RATE, pos), event, voiced)
            if (digit := presses.get(tick)) is not None:
                engine.on_dtmf(digit)
            await asyncio.sleep(max(0.0, t0 + (tick + 1) * 0.02 - loop.time()))
            if engine.ended.is_set():
                break
        await engine.close()
        return CallResult(engine, np.concatenate(heard), events)

    from tests.virtual_time import run_virtual

    return run_virtual(main())


def agent_audio_at(result: CallResult, start: float, end: float) -> float:
    """Seconds of agent audio the caller heard in [start, end)."""
    segment = result.out[int(start * RATE) : int(end * RATE)]
    return float(np.count_nonzero(segment == AGENT_LEVEL)) / RATE
