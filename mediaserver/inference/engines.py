"""The three loaded models, and the knowledge base's embedding models, behind
their lanes: what the routes call. Models never run on the event loop: each
lane's own thread runs its model."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mediaserver.config_models import InferenceConfig
from mediaserver.cores import Cores, ReplyDue, awaited, clause_due
from mediaserver.inference.lanes import Lane
from mediaserver.inference.metrics import ServiceMetrics
from mediaserver.knowledge.embed import Embedders
from mediaserver.modelset import ModelSet
from mediaserver.speech import Message
from models.store import ModelError
from models.stt import Transcription

SPOKEN_CACHE_SIZE = 64  # phrases kept as audio: greetings, fallbacks, frequent clauses

log = logging.getLogger(__name__)

STT_PRIORITY = 0
FIRST_CLAUSE, LATER_CLAUSE = 0, 1  # the voice lane
FIRST_WORDS_OUT, LATER_WORDS = 0, 1  # the LLM lane: new replies, then paused ones
TURN_WORDS = 8  # then, with other replies paused, words it writes before it lets them go on

Emit = Callable[[str | BaseException | None], None]


@dataclass(frozen=True, slots=True)
class Embedding:
    """Texts to embed with one model; `query`: a question, not a passage (e5 tells them apart)."""

    model: str
    texts: list[str]
    query: bool
    asked: float = field(default_factory=time.monotonic)


@dataclass
class Generation:
    """One chat completion: its pieces come out of `pieces` (None: the end);
    setting `stop` ends it at the next token, in the engine."""

    messages: list[Message]
    max_tokens: int
    temperature: float
    emit: Emit
    tools: list[dict[str, Any]] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    tokens: int = 0
    text: str = ""  # written so far
    words_before: int = 0  # words written before its latest turn on the model
    finish_reason: str = "stop"
    reply: Any = None  # the model's Reply, kept while paused (models/llm_reply.py)
    due: ReplyDue = field(default_factory=lambda: ReplyDue(time.monotonic()))


class Engines:
    def __init__(
        self,
        models: ModelSet,
        names: tuple[str, str, str],
        config: InferenceConfig,
        metrics: ServiceMetrics,
        embedders: Embedders | None = None,
    ) -> None:
        self.models = models
        self.embedders = embedders  # None: no /v1/embeddings
        self._embedding_models: list[str] | None = None
        self.names = names  # stt, llm, tts as clients name them
        self.metrics = metrics
        self.loaded = False
        self.cores = Cores(config.share_cores)
        self.stt = Lane[tuple[np.ndarray, str | None, str | None, float], Transcription](
            "stt",
            self._transcribe,
            config.stt_queue,
            max_batch=config.stt_batch,
            batch_window_s=config.stt_batch_window_ms / 1000,
            on_batch=metrics.stt_batch.observe,
        )
        self.llm = (
            Lane[Generation, None]("llm", self._generate, config.llm_queue)
            if models.llm is not None
            else None
        )
        self.tts = Lane[tuple[str, float], np.ndarray]("tts", self._synthesize, config.tts_queue)
        self.embed = Lane[Embedding, np.ndarray]("embed", self._embed, config.embed_queue)
        self._spoken: OrderedDict[str, np.ndarray] = OrderedDict()
        self._spoken_lock = threading.Lock()
        metrics.watch(self.lanes, self.cores)

    @property
    def lanes(self) -> tuple[Lane[object, object], ...]:
        return (*self.speech_lanes, self.embed)  # type: ignore[arg-type]

    @property
    def speech_lanes(self) -> tuple[Lane[object, object], ...]:
        """What a call cannot go without (a call goes on without retrieval)."""
        lanes = (self.stt, self.llm, self.tts)
        return tuple(lane for lane in lanes if lane is not None)  # type: ignore[misc]

    @property
    def llm_name(self) -> str | None:
        """None: no LLM here ([models] llm_url: another server answers for it)."""
        return self.names[1] if self.llm is not None else None

    @property
    def served(self) -> tuple[str, ...]:
        """The speech models' names this service answers for."""
        stt, _, tts = self.names
        return (stt, self.llm_name, tts) if self.llm_name else (stt, tts)

    def load(self) -> None:
        """Load and warm each model (blocking; the first run of each is slow) on
        its lane's thread, where it will run. llama.cpp and CTranslate2 compute
        on OpenMP, whose pool belongs to the thread that first runs it: warmed
        here, a lane's thread would get a second pool, libgomp would count more
        threads than cores and sleep at every barrier instead of spinning (each
        reply about 1.7x slower, measured)."""
        failed: list[BaseException] = []  # the LLM's job hands its error to its stream

        def llm_error(item: str | BaseException | None) -> None:
            if isinstance(item, BaseException):
                failed.append(item)

        warm_ups: list[Future[Any]] = [
            self.stt.submit((np.zeros(16000, np.float32), None, None, 0.0), admitted=True),
            self.tts.submit(("Hello.", 0.0), admitted=True),
        ]
        if self.llm is not None:
            hello = Generation([{"role": "user", "content": "Hello"}], 1, 0.0, llm_error)
            warm_ups.append(self.llm.submit(hello, admitted=True))
        for warm_up in warm_ups:
            warm_up.result()
        if failed:
            raise failed[0]
        if self.embedders is not None:
            english = self.embedders.config.english_model
            try:
                self.embed.submit(Embedding(english, ["Hello."], False), admitted=True).result()
            except ModelError as exc:  # the speech models serve on; embeddings answer 404
                log.warning("embeddings: %s", exc)
        self.loaded = True

    def close(self) -> None:
        for lane in self.lanes:
            lane.close()

    @property
    def sample_rate(self) -> int:
        return self.models.tts.sample_rate

    # -- STT ----------------------------------------------------------------------
    async def transcribe(
        self, audio: np.ndarray, prompt: str | None, language: str | None
    ) -> Transcription:
        """16 kHz int16 audio -> text, batched with other requests waiting."""
        return await self.stt.run((audio, prompt, language, time.monotonic()), STT_PRIORITY)

    def _transcribe(
        self, jobs: list[tuple[np.ndarray, str | None, str | None, float]]
    ) -> list[Transcription]:
        with self.cores.held(min(job[3] for job in jobs)):
            return self.models.stt.transcribe_many([job[:3] for job in jobs])

    # -- LLM ----------------------------------------------------------------------
    def generate(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        tools: list[dict[str, Any]] | None = None,
    ) -> tuple[Generation, AsyncGenerator[str, None]]:
        """Start a completion (Saturated at once if the LLM's queue is full):
        the job, and its pieces as they come. Closing the iterator (the client
        went away) stops the model at its next token, or drops the job if it
        has not started."""
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | BaseException | None] = asyncio.Queue(maxsize=max_tokens + 2)

        def emit(item: str | BaseException | None) -> None:
            loop.call_soon_threadsafe(pieces.put_nowait, item)

        job = Generation(messages, max_tokens, temperature, emit, tools=tools)
        assert self.llm is not None  # the route answers 404 without one
        future = self.llm.submit(job, FIRST_WORDS_OUT)

        async def stream() -> AsyncGenerator[str, None]:
            ended = False  # the model said all it had to (or failed)
            held: list[str | BaseException | None] = []  # read while joining pieces
            try:
                while (item := held.pop() if held else await pieces.get()) is not None:
                    if isinstance(item, BaseException):
                        ended = True
                        raise item
                    # what came while this loop was busy goes out as one piece: a
                    # wake-up per token on each side costs the cores the model uses
                    while not pieces.empty():
                        following = pieces.get_nowait()
                        if not isinstance(following, str):
                            held.append(following)
                            break
                        item += following
                    yield item
                ended = True
            finally:
                if not ended:
                    job.stop.set()
                    future.cancel()  # not started yet: never starts
                    self.metrics.llm_cancelled.inc()

        return job, stream()

    def _generate(self, jobs: list[Generation]) -> list[None]:
        for job in jobs:
            if job.stop.is_set():
                continue
            if job.reply is None:
                with_tools = {"tools": job.tools} if job.tools else {}
                assert self.models.llm is not None  # no lane without it
                job.reply = self.models.llm.reply(
                    job.messages, job.max_tokens, job.temperature, **with_tools
                )
            if self._write(job):
                self.metrics.llm_paused.inc()
                assert self.llm is not None
                self.llm.submit(job, LATER_WORDS, admitted=True)
        return [None] * len(jobs)

    def _write(self, job: Generation) -> bool:
        """Write the job's reply until it ends (True: it paused to give way)."""
        job.words_before = len(job.text.split())
        pieces = iter(job.reply)
        due = job.due.next_token
        try:
            with self.cores.held(due(job.text, time.monotonic())):
                while True:
                    self.cores.give_way(due(job.text, time.monotonic()))
                    if (piece := next(pieces, None)) is None:
                        if job.tokens >= job.max_tokens:
                            job.finish_reason = "length"
                        break
                    job.tokens += 1
                    job.text += piece
                    self.metrics.llm_tokens.inc()
                    if job.stop.is_set():
                        job.finish_reason = "cancelled"
                        break
                    job.emit(piece)
                    if self._gives_way(job):
                        return True
            job.emit(None)
        except Exception as exc:
            log.exception("LLM failed")
            job.emit(exc)
        finally:
            pieces.close()  # llama.cpp's loop ends here, not at max_tokens
        return False

    def _gives_way(self, job: Generation) -> bool:
        """A reply whose first words are out pauses for a reply that has none
        yet: that caller is waiting in silence, this one is hearing its answer.
        Paused replies then take turns, TURN_WORDS at a time, so that none
        falls silent behind the others."""
        assert self.llm is not None
        if awaited(job.text):
            return False
        if self.llm.waiting_before(LATER_WORDS):
            return True
        return len(job.text.split()) - job.words_before >= TURN_WORDS and self.llm.waiting > 0

    # -- embeddings -----------------------------------------------------------------
    def embedding_models(self) -> list[str]:
        """The embedding models this service can load (installed ones; looked up once)."""
        if self._embedding_models is None:
            found: list[str] = []
            if self.embedders is not None:
                config = self.embedders.config
                names = dict.fromkeys(n for n in (config.english_model, config.other_model) if n)
                found = [name for name in names if self.embedders.installed(name)]
            self._embedding_models = found
        return self._embedding_models

    async def embeddings(self, job: Embedding) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalized; ModelError if the model is not installed."""
        return await self.embed.run(job)

    def _embed(self, jobs: list[Embedding]) -> list[np.ndarray]:
        assert self.embedders is not None  # the route refuses requests without them
        with self.cores.held(min(job.asked for job in jobs)):
            return [self.embedders.get(job.model).embed(job.texts, query=job.query) for job in jobs]

    # -- TTS ----------------------------------------------------------------------
    async def synthesize(self, text: str, priority: int, *, admitted: bool = False) -> np.ndarray:
        """Audio of one clause at the voice's rate; a phrase said before comes
        from the cache at once."""
        with self._spoken_lock:
            if (audio := self._spoken.get(text)) is not None:
                self._spoken.move_to_end(text)
                self.metrics.tts_cached.inc()
                return audio
        due = clause_due(time.monotonic(), priority == FIRST_CLAUSE)
        return await self.tts.run((text, due), priority, admitted=admitted)

    def _synthesize(self, jobs: list[tuple[str, float]]) -> list[np.ndarray]:
        out = []
        for text, due in jobs:
            with self.cores.held(due):
                chunks = list(self.models.tts.synthesize(text))
            audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
            audio.flags.writeable = False
            with self._spoken_lock:
                self._spoken[text] = audio
                if len(self._spoken) > SPOKEN_CACHE_SIZE:
                    self._spoken.popitem(last=False)
            out.append(audio)
        return out
