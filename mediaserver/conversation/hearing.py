"""Hearing the caller: an utterance's audio transcribed (in the language the
caller chose, with the agent's vocabulary as the prompt) and, while the
endpointer may still be waiting, the agent's documents searched on the words."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import numpy as np

from mediaserver.agents import Agent
from mediaserver.clock import now
from mediaserver.conversation.knowledge import NO_FACTS, Facts, Retrieval
from mediaserver.conversation.speaker import describe
from mediaserver.conversation.turns import Speculation, Turn
from mediaserver.frames import AudioFrame
from mediaserver.speech import Speech, SpeechError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Heard:
    text: str  # "" if no words were caught
    models_failed: bool
    facts: Facts = NO_FACTS


class Hearing:
    def __init__(
        self,
        agent: Agent,
        speech: Speech,
        rate: int,
        stt_timeout_s: float,
        retrieval: Retrieval | None,
    ) -> None:
        self.agent = agent
        self.speech = speech
        self.rate = rate
        self.stt_timeout_s = stt_timeout_s
        self.retrieval = retrieval  # None: the agent has no documents

    async def hear(
        self, audio: np.ndarray, language: str, turn: Turn, spec: Speculation | None
    ) -> Heard | None:
        """The caller's words and the facts for them; None: the speculative
        turn was taken back meanwhile."""
        heard = await self.transcribe(audio, language)
        models_failed, text = heard is None, heard or ""
        turn.mark("stt_done", now())
        if spec is not None and spec.cancelled:
            return None
        facts = NO_FACTS
        if text and self.retrieval is not None:  # speculative: during the endpointer's wait
            facts = await self.retrieval.facts(text)
            turn.mark("retrieved", now())
            if spec is not None and spec.cancelled:
                return None
        return Heard(text, models_failed, facts)

    async def transcribe(self, audio: np.ndarray, language: str) -> str | None:
        """The caller's words ("" if none were caught); None if the models failed."""
        # the agent's vocabulary is written in its own language
        prompt = self.agent.stt_prompt if language == self.agent.language else ""
        try:
            async with asyncio.timeout(self.stt_timeout_s):
                frame = AudioFrame(audio, self.rate)
                text = await self.speech.transcribe(frame, language, prompt or None)
                return text.strip()
        except (SpeechError, TimeoutError) as exc:  # one line: the models' side logs the rest
            log.warning("transcription failed (%s); saying the fallback phrase", describe(exc))
            return None
        except Exception:  # a failed transcription is an utterance we did not catch
            log.exception("transcription failed")
            return ""

    def close(self) -> None:
        if self.retrieval is not None:
            self.retrieval.close()
