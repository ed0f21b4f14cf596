"""The turn engine: one per call, driven frame by frame.

The session calls on_frame() every 20 ms with the inbound frame and its VAD
event (after it has handed the caller one frame of the playout buffer). The
engine transcribes finished utterances, has the speaker answer them clause by
clause, and handles the caller talking over the agent:

- speech over the agent holds the agent at once: the playout buffer is
  cleared and the unplayed audio kept aside;
- a click or cough (too short), or a backchannel ("okay", "mm-hmm"), resumes
  the agent where it stopped;
- anything else, or speech going on past interrupt_after_ms, interrupts:
  the reply is cancelled and the history keeps only what the caller heard.

An answer to words left hanging ("I would like to book a cleaning for")
waits up to dangling_wait_ms of the caller's silence before it plays: a
caller who goes on is answered for the whole sentence (the utterances are
merged), as when they go on before any answer is ready.

Its parts: turn_taking (following the caller), hearing (the caller's words
and the facts for them), speaker (the reply pipeline), agent_tools (tool
rounds), menu (the IVR menu) and policy (limits, re-prompts, hand-over). The
engine wires them together and owns the turns and the background tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np

from mediaserver.agents import Agent, MenuOption
from mediaserver.clock import now
from mediaserver.conversation.agent_tools import AgentTools
from mediaserver.conversation.hearing import Hearing
from mediaserver.conversation.history import History
from mediaserver.conversation.knowledge import NO_FACTS, Facts, Retrieval
from mediaserver.conversation.menu import IvrMenu
from mediaserver.conversation.policy import CallPolicy, wants_person
from mediaserver.conversation.ports import Playout
from mediaserver.conversation.reply import Reply
from mediaserver.conversation.speaker import Speaker
from mediaserver.conversation.turn_taking import TurnConfig, TurnTaking
from mediaserver.conversation.turns import Speculation, Turn
from mediaserver.events import (
    CallEvent,
    Dtmf,
    Hangup,
    MenuChoice,
    SpeechEnded,
    SpeechStarted,
    Transcript,
)
from mediaserver.frames import AudioFrame, InboundAudio
from mediaserver.speech import Speech
from mediaserver.tools.spec import ToolRunner

__all__ = ["TurnConfig", "TurnEngine"]


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
        retrieval: Retrieval | None = None,
        tools: ToolRunner | None = None,
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
        self.language = agent.language
        self._audio = InboundAudio(rate, 32.0)
        self._tasks: set[asyncio.Task[None]] = set()
        self.listening = TurnTaking(self.config, rate)
        self.policy = CallPolicy(agent)
        self.tools = tools
        tool_rounds = None
        if agent.tools and tools is not None:
            tool_rounds = AgentTools(
                agent,
                speech,
                tools,
                policy=self.policy,
                listening=self.listening,
                history=self.history,
                on_event=self.on_event,
            ).round
        self.speaker = Speaker(
            agent,
            speech,
            playout,
            rate,
            self.history,
            first_token_timeout_s=self.config.first_token_timeout_s,
            tts_timeout_s=self.config.tts_timeout_s,
            on_event=self.on_event,
            spawn=self._spawn,
            tool_rounds=tool_rounds,
        )
        self.hearing = Hearing(agent, speech, rate, self.config.stt_timeout_s, retrieval)
        self._menu: IvrMenu | None = None  # the IVR menu is being played
        self._release_at: float | None = None  # an answer to dangling words plays then

    # -- driven by the session ------------------------------------------------
    def start(self) -> None:
        """Speak the greeting, or the IVR menu first if the agent has one."""
        if self.agent.menu:
            self._menu = IvrMenu(self.agent)
            self._speak(Reply(None, self.agent.menu_text, in_history=False))
        else:
            self._speak(Reply(None, self.agent.greeting))

    def on_frame(
        self, frame: AudioFrame, event: SpeechStarted | SpeechEnded | None, voiced: bool = False
    ) -> None:
        """One inbound frame, its endpointing event and its VAD verdict."""
        self._audio.append(frame)
        self._track_playout()
        if self._menu is not None:  # only digits count until the caller has chosen
            if self._menu.timed_out():
                self._menu_step(self._menu.again())
            return
        caller_active = event is not None or self.listening.in_speech
        if (limit := self.policy.limits(caller_active, self.busy)) is not None:
            self._speak(limit)
        match event:
            case SpeechStarted():
                self.listening.started(event)
                self._release_at = None  # the caller goes on: the answer waits for them
                if self.speaker.active():
                    self.speaker.hold()
            case SpeechEnded():
                self.listening.ended()
                self._on_utterance(event)
            case None:
                if self.listening.in_speech:
                    self._follow_utterance(frame, voiced)
                elif self._release_at is not None and now() >= self._release_at:
                    self._release_at = None
                    self.speaker.resume()
                reply = self.speaker.reply
                if (
                    self.speaker.holding
                    and self.listening.should_interrupt()
                    and reply is not None
                    and reply.started_playing(self.playout)
                ):
                    self.speaker.interrupt()

    def on_dtmf(self, digit: str) -> None:
        """A keypad digit: a menu choice, or the caller's input to the LLM."""
        self.on_event(Dtmf(digit))
        if self._menu is not None:
            self._menu_step(self._menu.pressed(digit))
            return
        if self.speaker.active():
            self.speaker.interrupt()
        turn = Turn(user_text=f"(pressed {digit})")
        turn.mark("speech_end", now())
        self.turns.append(turn)
        self.history.add("user", turn.user_text)
        self.policy.count_turn()
        self._speak(Reply(turn))

    def say_and_hang_up(self, text: str, reason: str) -> None:
        """Say `text` (e.g. a voicemail message), then end the call with `reason`."""
        self._speak(self.policy.goodbye(reason, None, text))

    def transfer_failed(self) -> None:
        """The transport could not hand the call over: say how to reach a person, end."""
        self._speak(self.policy.goodbye("transfer_failed", None, self.agent.no_transfer))

    @property
    def busy(self) -> bool:
        """The agent is answering or about to (a reply or an utterance in hand)."""
        return self.speaker.reply is not None or bool(self._tasks)

    async def close(self) -> None:
        """The call is over. A reply cut by the hang-up is recorded as far as it was heard."""
        self.speaker.close()
        self.hearing.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- the IVR menu ----------------------------------------------------------------
    def _menu_step(self, outcome: MenuOption | str) -> None:
        """The menu's answer to a digit or to silence: the prompt again, or an option."""
        if isinstance(outcome, str):
            self._speak(Reply(None, outcome, in_history=False))
            return
        assert self._menu is not None
        option, prompt, self._menu = outcome, self._menu.system_prompt(outcome), None
        self.language = option.language
        self.on_event(MenuChoice(option.digit, option.language))
        if prompt is not None:
            self.history.restart(prompt)
        self.policy.heard()
        self._speak(Reply(None, option.greeting))

    # -- turn-taking ------------------------------------------------------------
    def _follow_utterance(self, frame: AudioFrame, voiced: bool) -> None:
        listening = self.listening
        speculate = listening.follow(frame, voiced)
        if voiced:
            if listening.speculation is not None:
                self._cancel_speculation()  # the caller went on
            return
        if speculate and listening.speculation is None and not self.speaker.active():
            spec = Speculation(listening.utterance_start)
            audio = self._audio.slice(spec.start, self._audio.end)
            speech_end = now() - listening.silence_ms / 1000
            spec.task = self._spawn(
                self._handle_utterance(audio, speech_end, spec.start, self._audio.end, spec)
            )
            listening.speculation = spec

    def _cancel_speculation(self) -> None:
        if (spec := self.listening.take_back()) is None:
            return
        reply = self.speaker.reply
        if reply is not None and spec.turn is not None and reply.turn is spec.turn:
            self.speaker.drop()
        if spec.turn is not None:
            self.turns.remove(spec.turn)
        if spec.user_entry is not None:
            self.history.remove(spec.user_entry)
            self.policy.uncount_turn()

    def _on_utterance(self, event: SpeechEnded) -> None:
        if not event.too_short and (spec := self.listening.confirm()) is not None:
            if spec.transcript is not None:
                self.on_event(spec.transcript)
            reply = self.speaker.reply
            if reply is not None and spec.turn is not None and reply.turn is spec.turn:
                self._play_when_done(spec.turn)
            return
        self._cancel_speculation()
        if event.too_short:
            if self.speaker.holding:
                self.speaker.resume()
            return
        audio = self._audio.slice(event.start, event.end)
        voice_end = self.listening.voice_end(event.start, event.end)
        speech_end = now() - (self._audio.end - voice_end) / self.rate
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
        if (heard := await self.hearing.hear(audio, self.language, turn, spec)) is None:
            return
        text = heard.text
        if text:
            if spec is None or spec.confirmed:
                self.on_event(Transcript(text, start, end))
            else:
                spec.transcript = Transcript(text, start, end)
        speaker = self.speaker
        if speaker.holding and (not text or self.listening.is_backchannel(text)):
            speaker.resume()
            return
        reply = speaker.reply
        if (
            reply is not None
            and reply.turn is not None
            and reply.turn.user_text
            and not reply.started_playing(self.playout)
        ):
            # The caller went on before the agent said anything: answer all of it.
            speaker.drop()
            self.turns.remove(reply.turn)
            self.history.drop_last_user()
            self.policy.uncount_turn()
            text = f"{reply.turn.user_text} {text}".strip()
        elif speaker.holding or speaker.active():
            speaker.interrupt()
        self.turns.append(turn)
        if spec is not None:
            spec.turn = turn
        self._answer(turn, text, spec, heard.models_failed, heard.facts)

    def _answer(
        self,
        turn: Turn,
        text: str,
        spec: Speculation | None,
        models_failed: bool = False,
        facts: Facts = NO_FACTS,
    ) -> None:
        """Decide what the agent says to `text`: re-prompt, hand over, goodbye or the LLM."""
        if models_failed:  # not the caller's fault: no "didn't catch that"
            turn.agent_text = self.agent.fallback
            self._speak(Reply(turn, self.agent.fallback))
            return
        if not text:
            if self.policy.not_understood():
                self._speak(self.policy.hand_over(turn))
                return
            turn.reprompt = True
            turn.agent_text = self.agent.reprompt
            self._speak(Reply(turn, self.agent.reprompt))
            return
        self.policy.understood()
        turn.user_text = text
        self.history.add("user", text)
        if spec is not None:
            spec.user_entry = self.history.entries[-1]
        if self.policy.count_turn():
            self._speak(self.policy.goodbye("max_turns", turn))
        elif wants_person(text):
            self._speak(self.policy.hand_over(turn))
        else:
            turn.chunks = facts.chunk_ids
            self._speak(Reply(turn, facts=facts))
            if not self.listening.in_speech:
                self._play_when_done(turn)

    def _play_when_done(self, turn: Turn) -> None:
        """Play the answer to `turn` now, or, if its words were left hanging,
        once the caller has been quiet for dangling_wait_ms more (or
        unfinished_wait_ms, for words not ended as a sentence)."""
        if wait_ms := self.listening.answer_wait_ms(turn.user_text):
            self.speaker.hold()
            self._release_at = now() + wait_ms / 1000
        else:
            self.speaker.resume()

    # -- speaking ---------------------------------------------------------------
    def _speak(self, reply: Reply) -> None:
        self.speaker.speak(reply, caller_talking=self.listening.in_speech)

    def _track_playout(self) -> None:
        if self.speaker.track() is None:
            return
        if self._menu is not None:
            self._menu.prompt_played()
        self.policy.heard()
        match self.policy.after_reply():
            case Hangup() as hangup:
                self.on_event(hangup)
                self.ended.set()
            case None:
                pass
            case event:
                self.on_event(event)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
