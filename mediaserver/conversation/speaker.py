"""The reply pipeline: LLM pieces -> clauses -> TTS -> the playout buffer,
and what happens to a reply when the caller talks over it (hold, resume,
interrupt). One reply at a time; the turn engine decides what to say."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from mediaserver.agents import Agent
from mediaserver.clock import now
from mediaserver.conversation.clauses import ClauseSplitter
from mediaserver.conversation.history import History
from mediaserver.conversation.ports import Playout
from mediaserver.conversation.reply import Clip, Reply
from mediaserver.conversation.tool_round import ToolRound
from mediaserver.events import AgentClause, AgentSpoke, AgentText, CallEvent, Interrupted
from mediaserver.speech import Speech, SpeechError

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]
# the tool rounds of one reply (an agent with tools), or None
ToolRounds = Callable[[Reply], ToolRound]


class Speaker:
    def __init__(
        self,
        agent: Agent,
        speech: Speech,
        playout: Playout,
        rate: int,
        history: History,
        *,
        first_token_timeout_s: float,
        tts_timeout_s: float,
        on_event: Callable[[CallEvent], None],
        spawn: Spawn,
        tool_rounds: ToolRounds | None = None,
    ) -> None:
        self.agent = agent
        self.speech = speech
        self.playout = playout
        self.rate = rate
        self.history = history
        self.first_token_timeout_s = first_token_timeout_s
        self.tts_timeout_s = tts_timeout_s
        self.on_event = on_event
        self._spawn = spawn
        self.tool_rounds = tool_rounds
        self.reply: Reply | None = None
        self.holding = False  # the caller speaks over the reply: it waits, unplayed
        self._next_utterance = 1

    # -- what the engine asks -----------------------------------------------------
    def active(self) -> bool:
        """A reply is being generated or played."""
        return self.reply is not None and not self.reply.finished(self.playout)

    def speak(self, reply: Reply, caller_talking: bool) -> None:
        """Say `reply` instead of whatever was being said."""
        if (previous := self.reply) is not None:
            if previous.task is not None:
                previous.task.cancel()
            if not previous.finished(self.playout):
                self.spoke(previous, previous.heard(self.playout), interrupted=True)
        self.playout.clear()
        self.holding = caller_talking  # keep the reply until the caller stops
        self.reply = reply
        reply.task = self._spawn(self._generate(reply))

    def drop(self) -> Reply | None:
        """Take the reply back unheard (its turn is being withdrawn or merged)."""
        reply, self.reply, self.holding = self.reply, None, False
        if reply is not None and reply.task is not None:
            reply.task.cancel()
        return reply

    def hold(self) -> None:
        """Silence the agent now; keep what it had not said yet."""
        if self.holding or self.reply is None:
            return
        self.holding = True
        self.reply.held_at = now()
        self.playout.clear()
        for clip in self.reply.clips:
            clip.written = min(clip.written, self.playout.played(clip.utterance))

    def resume(self) -> None:
        self.holding = False
        if self.reply is not None:
            self.reply.held_at = None
        self._flush()

    def interrupt(self) -> None:
        """The caller took the floor: cancel the reply; history keeps what was heard."""
        reply, self.reply, self.holding = self.reply, None, False
        if reply is None:
            return
        if reply.task is not None:
            reply.task.cancel()
        self.playout.clear()
        heard = reply.heard(self.playout)
        if reply.turn is not None:
            reply.turn.agent_text = heard
            reply.turn.interrupted = True
        if reply.history_entry is not None:
            reply.history_entry["content"] = heard
        else:
            self.history.add("assistant", heard)
        self.on_event(Interrupted(heard))
        self.spoke(reply, heard, interrupted=True)

    def spoke(self, reply: Reply, text: str, interrupted: bool) -> None:
        """Tell the transport what the caller heard of a reply (nothing: no event)."""
        if reply.started_at is None:
            return
        timings = reply.turn.timings_ms if reply.turn is not None else {}
        self.on_event(
            AgentSpoke(
                text,
                reply.started_at,
                reply.held_at or now(),
                interrupted,
                tuple(timings.items()),
                reply.facts.chunk_ids,
            )
        )

    def track(self) -> Reply | None:
        """Once a tick: feed the buffer; returns the reply that just finished playing."""
        reply = self.reply
        if reply is None:
            return None
        self._flush()
        for clip in reply.clips:
            if not clip.announced and self.playout.played(clip.utterance) > 0:
                clip.announced = True  # its audio began to play: the caller hears it now
                self.on_event(AgentClause(clip.text))
        if reply.started_at is None and reply.started_playing(self.playout):
            reply.started_at = now()
            if reply.turn is not None:
                reply.turn.mark("first_audio_out", reply.started_at)
        if reply.finished(self.playout) and not self.holding:
            self.reply = None
            self.spoke(reply, reply.text, interrupted=False)
            return reply
        return None

    def close(self) -> None:
        """The call is over: a reply cut by the hang-up is recorded as far as it was heard."""
        reply, self.reply = self.reply, None
        if reply is not None and not reply.finished(self.playout):
            heard = reply.heard(self.playout)
            self.spoke(reply, heard, interrupted=True)
            if reply.turn is not None:
                reply.turn.interrupted, reply.turn.agent_text = True, heard

    # -- generating ---------------------------------------------------------------
    async def _generate(self, reply: Reply) -> None:
        turn = reply.turn
        try:
            if reply.fixed_text is not None:
                await self._add_clause(reply, reply.fixed_text)
            else:
                await self._generate_from_llm(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, (SpeechError, TimeoutError)):  # expected: one line says it
                log.warning("reply failed (%s); saying the fallback phrase", describe(exc))
            else:
                log.exception("reply failed; saying the fallback phrase")
            if not reply.clips:
                with contextlib.suppress(Exception):
                    await self._add_clause(reply, self.agent.fallback)
        reply.generated = True
        text = reply.text
        if reply.in_history and (reply.fixed_text is None or turn is None):
            self.history.add("assistant", text)
            reply.history_entry = self.history.entries[-1]
        if turn is not None and not turn.interrupted:
            turn.agent_text = text
        self.on_event(AgentText(text))

    async def _generate_from_llm(self, reply: Reply) -> None:
        """LLM pieces -> clauses -> TTS, the first clause spoken while the LLM goes on."""
        clauses: asyncio.Queue[str | None] = asyncio.Queue(maxsize=4)
        timeout = self.first_token_timeout_s
        if self.tool_rounds is not None:  # a tool's wait counts as the model's
            timeout += max((t.timeout_seconds for t in self.agent.tools), default=0.0)

        async def produce() -> None:
            splitter = ClauseSplitter()
            messages = self.history.messages()
            # just before the caller's words: the history before them stays a prefix
            # the LLM has already read (llama.cpp reuses it), and a small model
            # heeds facts next to the question best
            at = len(messages) - 1 if messages[-1]["role"] == "user" else len(messages)
            messages[at:at] = reply.facts.messages
            messages.extend(reply.facts.after)  # "your documents do not say": heeded there
            args = (messages, self.agent.max_reply_tokens, self.agent.temperature)
            if self.tool_rounds is not None:
                pieces = self.tool_rounds(reply).pieces(*args)
            else:
                pieces = self.speech.reply(*args)
            try:
                async with asyncio.timeout(timeout) as deadline:
                    async for piece in pieces:
                        if reply.turn is not None:
                            reply.turn.mark("first_token", now())
                        deadline.reschedule(now() + timeout)  # a stalled stream times out too
                        for clause in splitter.feed(piece):
                            await clauses.put(clause)
                if rest := splitter.flush():
                    await clauses.put(rest)
            finally:
                # never wait here: a cancelled reply has no one left to drain the queue
                with contextlib.suppress(asyncio.QueueFull):
                    clauses.put_nowait(None)  # full: the consumer sees the producer done
                if (close := getattr(pieces, "aclose", None)) is not None:
                    await close()  # the model stops generating now, not at max_tokens

        producer = self._spawn(produce())
        try:
            while not (clauses.empty() and producer.done()):
                if (clause := await clauses.get()) is None:
                    break
                await self._add_clause(reply, clause)
            await producer
        finally:
            producer.cancel()

    async def _add_clause(self, reply: Reply, text: str) -> None:
        async with asyncio.timeout(self.tts_timeout_s):
            frame = await self.speech.synthesize(text, first=not reply.clips)
        if frame.rate != self.rate:  # an adapter resamples at its edge; never play it wrong
            raise SpeechError(f"speech came at {frame.rate} Hz, the call runs at {self.rate} Hz")
        audio = frame.samples
        if reply.turn is not None:
            reply.turn.mark("first_tts_audio", now())
        reply.clips.append(Clip(text, self._next_utterance, audio))
        self._next_utterance += 1
        self._flush()

    def _flush(self) -> None:
        """Move reply audio into the playout buffer, in order, as space allows."""
        reply = self.reply
        if reply is None or self.holding:
            return
        for clip in reply.clips:
            if clip.written < clip.audio.size:
                clip.written += self.playout.write(clip.audio[clip.written :], clip.utterance)
                if clip.written < clip.audio.size:
                    return


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"{type(exc).__name__}: {exc}" + (
        ", may retry" if getattr(exc, "retryable", False) else ""
    )
