"""In-process speech services: faster-whisper, llama.cpp and Piper in threads."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mediaserver.cores import Cores, ReplyDue, clause_due
from mediaserver.frames import AudioFrame
from mediaserver.speech import Message, ToolSpec
from models.llm import LlamaLLM
from models.stt import RATE as STT_RATE
from models.stt import WhisperSTT
from models.tts import PiperTTS
from native import resample

SPOKEN_CACHE_SIZE = 64  # phrases kept as audio: greetings, re-prompts, frequent answers


class LocalSpeech:
    """The conversation's Speech port over local models, one worker thread each
    (a model is not safe to call from two threads at once). The models take
    turns on the cores, the work due soonest first (cores.py)."""

    def __init__(
        self,
        stt: WhisperSTT,
        llm: LlamaLLM,
        tts: PiperTTS,
        rate: int = 16000,
        *,
        share_cores: bool = True,  # False: the models run at once (a GPU box, a bench peer)
    ) -> None:
        self.stt, self.llm, self.tts = stt, llm, tts
        self.rate = rate
        self.cores = Cores(share_cores)
        self._pools = {
            name: ThreadPoolExecutor(1, thread_name_prefix=name) for name in ("stt", "llm", "tts")
        }
        self._spoken: OrderedDict[str, np.ndarray] = OrderedDict()  # text -> audio, LRU

    def load(self, system_prompt: str | None = None, greeting: str | None = None) -> None:
        """Load every model (blocking; the three at once, each in its own
        worker), and prime the LLM with how every call starts (system prompt,
        greeting) so the first answer does not pay for reading it: llama.cpp
        reuses the longest cached prefix."""
        loads = [
            self._pools["stt"].submit(self._load_stt),
            self._pools["tts"].submit(self._load_tts, greeting),
            self._pools["llm"].submit(self._load_llm, system_prompt, greeting),
        ]
        for future in loads:
            future.result()

    def _load_stt(self) -> None:
        self.stt.load()
        self.stt.transcribe(np.zeros(self.rate, np.float32))  # CTranslate2's first run is slow

    def _load_llm(self, system_prompt: str | None, greeting: str | None) -> None:
        self.llm.load()
        if system_prompt:
            prefix = [{"role": "system", "content": system_prompt}]
            if greeting:
                prefix.append({"role": "assistant", "content": greeting})
            for _ in self.llm.stream([*prefix, {"role": "user", "content": "Hello"}], max_tokens=1):
                pass

    def _load_tts(self, greeting: str | None) -> None:
        self.tts.load()
        self._synthesize(greeting or "Hello.")  # onnxruntime's first run is slow

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    async def transcribe(
        self, audio: AudioFrame, language: str | None = None, prompt: str | None = None
    ) -> str:
        loop = asyncio.get_running_loop()
        work = functools.partial(self._transcribe, at_rate(audio, STT_RATE), prompt, language)
        return await loop.run_in_executor(self._pools["stt"], work, time.monotonic())

    def _transcribe(
        self, audio: np.ndarray, prompt: str | None, language: str | None, asked: float
    ) -> str:
        with self.cores.held(asked):
            return self.stt.transcribe(audio, prompt, language).text

    async def reply(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        *,
        tools: list[ToolSpec] | None = None,
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        # One slot per token the model may produce, so the worker never blocks on it.
        pieces: asyncio.Queue[str | BaseException | None] = asyncio.Queue(maxsize=max_tokens + 2)
        stop = threading.Event()
        with_tools = {"tools": tools} if tools else {}  # the LLM's stream takes them if given

        due, text = ReplyDue(time.monotonic()), ""

        def work() -> None:
            nonlocal text
            stream = self.llm.stream(messages, max_tokens, temperature, **with_tools)
            try:
                with self.cores.held(due.next_token(text, time.monotonic())):
                    while not stop.is_set():
                        self.cores.give_way(due.next_token(text, time.monotonic()))
                        if (piece := next(stream, None)) is None:
                            break
                        text += piece
                        loop.call_soon_threadsafe(pieces.put_nowait, piece)
                loop.call_soon_threadsafe(pieces.put_nowait, None)
            except Exception as exc:  # handed to the consumer, who decides
                loop.call_soon_threadsafe(pieces.put_nowait, exc)
            finally:
                stream.close()  # llama.cpp's loop ends here, not at max_tokens

        worker = loop.run_in_executor(self._pools["llm"], work)
        try:
            while (item := await pieces.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()  # a cancelled reply frees the model at the next token
            worker.cancel()

    async def synthesize(self, text: str, *, first: bool = False) -> AudioFrame:
        loop = asyncio.get_running_loop()
        due = clause_due(time.monotonic(), first)
        audio = await loop.run_in_executor(self._pools["tts"], self._synthesize, text, due)
        return AudioFrame(audio, self.rate)

    def _synthesize(self, text: str, due: float = 0.0) -> np.ndarray:
        """Piper's audio for `text` at our rate; a phrase said before comes from
        the cache (every call's greeting plays at once)."""
        if (audio := self._spoken.get(text)) is not None:
            self._spoken.move_to_end(text)
            return audio
        with self.cores.held(due):
            chunks = list(self.tts.synthesize(text))
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        if self.tts.sample_rate != self.rate and audio.size:
            audio = resample.resampler(self.tts.sample_rate, self.rate).process(audio).copy()
        audio.flags.writeable = False  # shared by every call that says it
        self._spoken[text] = audio
        if len(self._spoken) > SPOKEN_CACHE_SIZE:
            self._spoken.popitem(last=False)
        return audio


def at_rate(audio: AudioFrame, rate: int) -> np.ndarray:
    """The frame's samples at `rate` (resampled at this edge if they are not)."""
    if audio.rate == rate:
        return audio.samples
    return resample.resampler(audio.rate, rate).process(audio.samples).copy()
