"""The turn engine: one per call, driven frame by frame.

The session calls on_frame() every 20 ms with the inbound frame and its VAD
event (after it has handed the caller one frame of the playout buffer). The
engine transcribes finished utterances, streams the LLM's answer clause by
clause through TTS into the playout buffer, and handles the caller talking
over the agent:

- speech over the agent holds the agent at once: the playout buffer is
  cleared and the unplayed audio kept aside;
- a click or cough (too short), or a backchannel ("okay", "mm-hmm"), resumes
  the agent where it stopped;
- anything else, or speech going on past interrupt_after_ms, interrupts:
  the reply is cancelled and the history keeps only what the caller heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mediaserver.agents import Agent, MenuOption
from mediaserver.clock import now
from mediaserver.config import SPECULATE_MS
from mediaserver.conversation.clauses import ClauseSplitter
from mediaserver.conversation.history import History
from mediaserver.conversation.inbound import InboundAudio
from mediaserver.conversation.ports import Playout
from mediaserver.conversation.reply import Clip, Reply
from mediaserver.conversation.turns import Speculation, Turn
from mediaserver.events import (
    AgentClause,
    AgentSpoke,
    AgentText,
    CallEvent,
    Dtmf,
    Hangup,
    Interrupted,
    MenuChoice,
    SpeechEnded,
    SpeechStarted,
    Transcript,
    Transfer,
)
from mediaserver.frames import AudioFrame
from mediaserver.speech import Speech, SpeechError

log = logging.getLogger(__name__)

WANTS_PERSON = re.compile(
    r"\b(human|operator|representative|real person|receptionist|"
    r"(talk|speak|speaking|talking)\s+(to|with)\s+(a|an|some|the)?\s*"
    r"(person|someone|somebody|staff|colleague|people|dentist|doctor)|"
    r"(transfer|connect|put)\s+me\s+(through|to))\b"
)
NOT_UNDERSTOOD_LIMIT = 3  # re-prompts in a row before handing over to a person

BACKCHANNELS = frozenset(
    {
        "okay",
        "ok",
        "yeah",
        "yes",
        "yep",
        "right",
        "sure",
        "uh huh",
        "mm hmm",
        "mhm",
        "hmm",
        "got it",
        "i see",
        "alright",
        "all right",
        "cool",
        "great",
        "mm",
    }
)


@dataclass(frozen=True, slots=True)
class TurnConfig:
    interrupt_after_ms: int = 800  # speech over the agent this long interrupts at once
    # Start transcribing and answering after this much trailing silence, before
    # the endpointer is sure the caller is done; the answer waits for its word.
    speculate_after_ms: int = SPECULATE_MS  # 0: never
    stt_timeout_s: float = 10.0
    first_token_timeout_s: float = 10.0
    tts_timeout_s: float = 10.0
    backchannels: frozenset[str] = field(default=BACKCHANNELS)


def normalize(text: str) -> str:
    return re.sub(r"[^a-z' ]+", " ", text.lower()).strip()


@dataclass(slots=True)
class _Menu:
    tries: int = 0
    deadline: float | None = None  # the prompt has played: a digit is due by then


class TurnEngine:
    def __init__(
        self,
        agent: Agent,
        speech: Speech,
        playout: Playout,
        rate: int,
        *,
        config: TurnConfig | None = None,
        on_event: Callable[[CallEvent], None] | None = None,
    ) -> None:
        self.agent = agent
        self.speech = speech
        self.playout = playout
        self.rate = rate
        self.config = config or TurnConfig()
        self.on_event = on_event or (lambda event: None)
        self.history = History(agent.system_prompt, agent.history_tokens)
        self.turns: list[Turn] = []
        self.ended = asyncio.Event()
        self._audio = InboundAudio(rate, 32.0)
        self._reply: Reply | None = None
        self._holding = False
        self._in_speech = False
        self._voiced_ms = 0  # speech heard since the caller started over the agent
        self._silence_ms = 0  # trailing silence in the current utterance
        self._utterance_start = 0
        self._last_voiced_end = 0  # where the caller's speech really stopped (no hangover)
        self._speculation: Speculation | None = None
        self._next_utterance = 1
        self._tasks: set[asyncio.Task[None]] = set()
        self._user_turns = 0
        self._hangup_reason: str | None = None  # say the current reply, then hang up
        self._started_at: float | None = None
        self._heard_at: float | None = None  # the caller's last speech, or the agent's last word
        self._asked_still_there = False
        self._reprompts = 0  # in a row
        self._transfer_after_reply = False
        self.language = agent.language
        self._menu: _Menu | None = None  # the IVR menu is being played

    # -- driven by the session ------------------------------------------------
    def start(self) -> None:
        """Speak the greeting, or the IVR menu first if the agent has one."""
        if self.agent.menu:
            self._menu = _Menu()
            self._speak(Reply(None, self.agent.menu_text, in_history=False))
        else:
            self._speak(Reply(None, self.agent.greeting))

    # -- the IVR menu ----------------------------------------------------------------
    def _menu_digit(self, digit: str) -> None:
        menu = self.agent.menu
        if (option := next((o for o in menu if o.digit == digit), None)) is not None:
            self._choose(option)
        else:
            self._menu_again(f"Sorry, {digit} is not an option.")

    def _menu_again(self, apology: str = "") -> None:
        """No digit in time, or a wrong one: the prompt again, then the first option."""
        assert self._menu is not None
        self._menu.tries += 1
        self._menu.deadline = None
        if self._menu.tries > self.agent.menu_retries:
            self._choose(self.agent.menu[0])
            return
        text = f"{apology} {self.agent.menu_text}".strip()
        self._speak(Reply(None, text, in_history=False))

    def _choose(self, option: MenuOption) -> None:
        self._menu = None
        self.language = option.language
        self.on_event(MenuChoice(option.digit, option.language))
        if option.language != self.agent.language:
            name = option.label or option.language
            prompt = f"{self.agent.system_prompt}\nThe caller chose {name}: reply in {name}."
            self.history = History(prompt, self.agent.history_tokens)
        self._heard_at = now()
        self._speak(Reply(None, option.greeting))

    def on_frame(
        self, frame: AudioFrame, event: SpeechStarted | SpeechEnded | None, voiced: bool = False
    ) -> None:
        """One inbound frame, its endpointing event and its VAD verdict."""
        self._audio.append(frame)
        self._track_playout()
        if self._menu is not None:  # only digits count until the caller has chosen
            if self._menu.deadline is not None and now() >= self._menu.deadline:
                self._menu_again()
            return
        self._check_limits(event is not None or self._in_speech)
        match event:
            case SpeechStarted():
                self._in_speech = True
                self._voiced_ms = self._silence_ms = 0
                self._utterance_start = event.position
                if self._agent_active():
                    self._hold()
            case SpeechEnded():
                self._in_speech = False
                self._on_utterance(event)
            case None:
                if self._in_speech:
                    self._follow_utterance(frame, voiced)
                reply = self._reply
                if (
                    self._holding
                    and self._voiced_ms >= self.config.interrupt_after_ms
                    and reply is not None
                    and reply.started_playing(self.playout)
                ):
                    self._interrupt()

    def _check_limits(self, caller_active: bool) -> None:
        """Max call length, and a caller who went quiet: ask once, then say goodbye."""
        t = now()
        if self._started_at is None:
            self._started_at = self._heard_at = t
        if caller_active or self.busy:
            self._heard_at = t
            if caller_active:
                self._asked_still_there = False
            return
        if self._hangup_reason is not None:
            return
        if t - self._started_at >= self.agent.max_call_seconds:
            self._say_goodbye("max_duration", None)
        elif self._heard_at is not None and t - self._heard_at >= self.agent.silence_seconds:
            if self._asked_still_there:
                self._say_goodbye("silence", None)
            else:
                self._asked_still_there = True
                self._speak(Reply(None, self.agent.still_there, in_history=False))

    def _hand_over(self, turn: Turn) -> None:
        """The caller wants a person (or we keep failing them): transfer, or say how."""
        if not self.agent.transfer_target:
            self._say_goodbye("no_transfer_target", turn, self.agent.no_transfer)
            return
        self._transfer_after_reply = True
        self._speak(Reply(turn, self.agent.transfer_phrase, in_history=False))

    def transfer_failed(self) -> None:
        """The transport could not hand the call over: say how to reach a person, end."""
        self._say_goodbye("transfer_failed", None, self.agent.no_transfer)

    def _say_goodbye(self, reason: str, turn: Turn | None, text: str | None = None) -> None:
        self._hangup_reason = reason
        self._speak(Reply(turn, text or self.agent.goodbye, in_history=False))

    def on_dtmf(self, digit: str) -> None:
        """A keypad digit: a menu choice, or the caller's input to the LLM."""
        self.on_event(Dtmf(digit))
        if self._menu is not None:
            self._menu_digit(digit)
            return
        if self._agent_active():
            self._interrupt()
        turn = Turn(user_text=f"(pressed {digit})")
        turn.mark("speech_end", now())
        self.turns.append(turn)
        self.history.add("user", turn.user_text)
        self._user_turns += 1
        self._speak(Reply(turn))

    @property
    def busy(self) -> bool:
        """The agent is answering or about to (a reply or an utterance in hand)."""
        return self._reply is not None or bool(self._tasks)

    async def close(self) -> None:
        """The call is over. A reply cut by the hang-up is recorded as far as it was heard."""
        reply, self._reply = self._reply, None
        if reply is not None and not reply.finished(self.playout):
            heard = reply.heard(self.playout)
            self._spoke(reply, heard, interrupted=True)
            if reply.turn is not None:
                reply.turn.interrupted, reply.turn.agent_text = True, heard
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- turn-taking ------------------------------------------------------------
    def _follow_utterance(self, frame: AudioFrame, voiced: bool) -> None:
        ms = frame.samples.size * 1000 // self.rate
        if voiced:
            self._voiced_ms += ms
            self._silence_ms = 0
            self._last_voiced_end = frame.end
            if self._speculation is not None:
                self._cancel_speculation()  # the caller went on
            return
        self._silence_ms += ms
        after = self.config.speculate_after_ms
        if (
            after
            and self._silence_ms >= after > self._silence_ms - ms
            and self._speculation is None
            and not self._agent_active()
        ):
            spec = Speculation(self._utterance_start)
            audio = self._audio.slice(spec.start, self._audio.end)
            speech_end = now() - self._silence_ms / 1000
            spec.task = self._spawn(
                self._handle_utterance(audio, speech_end, spec.start, self._audio.end, spec)
            )
            self._speculation = spec

    def _cancel_speculation(self) -> None:
        spec, self._speculation = self._speculation, None
        if spec is None:
            return
        spec.cancelled = True
        if spec.task is not None:
            spec.task.cancel()
        reply = self._reply
        if reply is not None and spec.turn is not None and reply.turn is spec.turn:
            if reply.task is not None:
                reply.task.cancel()
            self._reply, self._holding = None, False
        if spec.turn is not None:
            self.turns.remove(spec.turn)
        if spec.user_entry is not None:
            self.history.remove(spec.user_entry)
            self._user_turns -= 1

    def _agent_active(self) -> bool:
        return self._reply is not None and not self._reply.finished(self.playout)

    def _hold(self) -> None:
        """Silence the agent now; keep what it had not said yet."""
        if self._holding or self._reply is None:
            return
        self._holding = True
        self._reply.held_at = now()
        self.playout.clear()
        for clip in self._reply.clips:
            clip.written = min(clip.written, self.playout.played(clip.utterance))

    def _resume(self) -> None:
        self._holding = False
        if self._reply is not None:
            self._reply.held_at = None
        self._flush()

    def _interrupt(self) -> None:
        reply, self._reply, self._holding = self._reply, None, False
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
        self._spoke(reply, heard, interrupted=True)

    def _spoke(self, reply: Reply, text: str, interrupted: bool) -> None:
        """Tell the transport what the caller heard of a reply (nothing: no event)."""
        if reply.started_at is None:
            return
        timings = reply.turn.timings_ms if reply.turn is not None else {}
        self.on_event(
            AgentSpoke(
                text, reply.started_at, reply.held_at or now(), interrupted, tuple(timings.items())
            )
        )

    def _on_utterance(self, event: SpeechEnded) -> None:
        spec = self._speculation
        if spec is not None and not event.too_short:
            self._speculation, spec.confirmed = None, True
            if spec.transcript is not None:
                self.on_event(spec.transcript)
            reply = self._reply
            if reply is not None and spec.turn is not None and reply.turn is spec.turn:
                self._resume()
            return
        self._cancel_speculation()
        if event.too_short:
            if self._holding:
                self._resume()
            return
        audio = self._audio.slice(event.start, event.end)
        last_voiced = self._last_voiced_end if self._last_voiced_end > event.start else event.end
        speech_end = now() - (self._audio.end - min(last_voiced, event.end)) / self.rate
        self._spawn(self._handle_utterance(audio, speech_end, event.start, event.end))

    async def _handle_utterance(
        self,
        audio: np.ndarray,
        speech_end: float,
        start: int,
        end: int,
        spec: Speculation | None = None,
    ) -> None:
        turn = Turn()
        turn.mark("speech_end", speech_end)
        heard = await self._transcribe(audio)
        models_failed, text = heard is None, heard or ""
        turn.mark("stt_done", now())
        if spec is not None and spec.cancelled:
            return
        if text:
            if spec is None or spec.confirmed:
                self.on_event(Transcript(text, start, end))
            else:
                spec.transcript = Transcript(text, start, end)
        if self._holding and (not text or self._is_backchannel(text)):
            self._resume()
            return
        reply = self._reply
        if (
            reply is not None
            and reply.turn is not None
            and reply.turn.user_text
            and not reply.started_playing(self.playout)
        ):
            # The caller went on before the agent said anything: answer all of it.
            if reply.task is not None:
                reply.task.cancel()
            self._reply, self._holding = None, False
            self.turns.remove(reply.turn)
            self.history.drop_last_user()
            self._user_turns -= 1
            text = f"{reply.turn.user_text} {text}".strip()
        elif self._holding or self._agent_active():
            self._interrupt()
        self.turns.append(turn)
        if spec is not None:
            spec.turn = turn
        self._answer(turn, text, spec, models_failed)

    def _is_backchannel(self, text: str) -> bool:
        """Only backchannels ("okay", "yeah yeah", "right, sure"): the caller is listening."""
        words = normalize(text).split()
        while words:
            for n in (2, 1):  # the longest phrase first ("uh huh")
                if len(words) >= n and " ".join(words[:n]) in self.config.backchannels:
                    words = words[n:]
                    break
            else:
                return False
        return True

    def _answer(
        self, turn: Turn, text: str, spec: Speculation | None, models_failed: bool = False
    ) -> None:
        """Decide what the agent says to `text`: re-prompt, hand over, goodbye or the LLM."""
        if models_failed:  # not the caller's fault: no "didn't catch that"
            turn.agent_text = self.agent.fallback
            self._speak(Reply(turn, self.agent.fallback))
            return
        if not text:
            self._reprompts += 1
            if self._reprompts >= NOT_UNDERSTOOD_LIMIT:
                self._hand_over(turn)
                return
            turn.reprompt = True
            turn.agent_text = self.agent.reprompt
            self._speak(Reply(turn, self.agent.reprompt))
            return
        self._reprompts = 0
        turn.user_text = text
        self.history.add("user", text)
        if spec is not None:
            spec.user_entry = self.history.entries[-1]
        self._user_turns += 1
        if self._user_turns > self.agent.max_turns:
            self._say_goodbye("max_turns", turn)
        elif WANTS_PERSON.search(text.lower()):
            self._hand_over(turn)
        else:
            self._speak(Reply(turn))

    async def _transcribe(self, audio: np.ndarray) -> str | None:
        """The caller's words ("" if none were caught); None if the models failed."""
        # the agent's vocabulary is written in its own language
        prompt = self.agent.stt_prompt if self.language == self.agent.language else ""
        try:
            async with asyncio.timeout(self.config.stt_timeout_s):
                frame = AudioFrame(audio, self.rate)
                text = await self.speech.transcribe(frame, self.language, prompt or None)
                return text.strip()
        except (SpeechError, TimeoutError) as exc:  # one line: the models' side logs the rest
            log.warning("transcription failed (%s); saying the fallback phrase", describe(exc))
            return None
        except Exception:  # a failed transcription is an utterance we did not catch
            log.exception("transcription failed")
            return ""

    # -- speaking ---------------------------------------------------------------
    def _speak(self, reply: Reply) -> None:
        if (previous := self._reply) is not None:
            if previous.task is not None:
                previous.task.cancel()
            if not previous.finished(self.playout):
                self._spoke(previous, previous.heard(self.playout), interrupted=True)
        self.playout.clear()
        self._holding = self._in_speech  # the caller is talking: keep the reply until they stop
        self._reply = reply
        reply.task = self._spawn(self._generate(reply))

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
        timeout = self.config.first_token_timeout_s

        async def produce() -> None:
            splitter = ClauseSplitter()
            messages = self.history.messages()
            pieces = self.speech.reply(
                messages, self.agent.max_reply_tokens, self.agent.temperature
            )
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
                await clauses.put(None)

        producer = asyncio.create_task(produce())
        try:
            while (clause := await clauses.get()) is not None:
                await self._add_clause(reply, clause)
            await producer
        finally:
            producer.cancel()

    async def _add_clause(self, reply: Reply, text: str) -> None:
        async with asyncio.timeout(self.config.tts_timeout_s):
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
        reply = self._reply
        if reply is None or self._holding:
            return
        for clip in reply.clips:
            if clip.written < clip.audio.size:
                clip.written += self.playout.write(clip.audio[clip.written :], clip.utterance)
                if clip.written < clip.audio.size:
                    return

    def _track_playout(self) -> None:
        reply = self._reply
        if reply is None:
            return
        self._flush()
        for clip in reply.clips:
            if not clip.announced and self.playout.played(clip.utterance) > 0:
                clip.announced = True
                self.on_event(AgentClause(clip.text))
        if reply.started_at is None and reply.started_playing(self.playout):
            reply.started_at = now()
            if reply.turn is not None:
                reply.turn.mark("first_audio_out", reply.started_at)
        if reply.finished(self.playout) and not self._holding:
            self._reply = None
            self._spoke(reply, reply.text, interrupted=False)
            if self._menu is not None and self._menu.deadline is None:
                self._menu.deadline = now() + self.agent.menu_timeout_seconds
            self._heard_at = now()
            if self._transfer_after_reply:
                self._transfer_after_reply = False
                self.on_event(Transfer(self.agent.transfer_target))
            elif self._hangup_reason is not None:
                self.on_event(Hangup(self._hangup_reason))
                self.ended.set()

    def _spawn(self, coro: object) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"{type(exc).__name__}: {exc}" + (
        ", may retry" if getattr(exc, "retryable", False) else ""
    )
