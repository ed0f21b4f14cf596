"""A reply of the agent: the clauses synthesized so far, and what was heard."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from mediaserver.conversation.knowledge import NO_FACTS, Facts
from mediaserver.conversation.ports import Playout
from mediaserver.conversation.turns import Turn


@dataclass(slots=True)
class Clip:
    """One synthesized clause of a reply, and how much of it the buffer took."""

    text: str
    utterance: int
    audio: np.ndarray
    written: int = 0
    announced: bool = False  # AgentClause sent: its audio began to play


class Reply:
    """The agent's answer being generated and spoken."""

    def __init__(
        self,
        turn: Turn | None,
        text: str | None = None,
        in_history: bool = True,
        facts: Facts = NO_FACTS,
    ) -> None:
        self.turn = turn
        self.fixed_text = text  # greeting, re-prompt, goodbye: no LLM
        self.facts = facts  # from the knowledge base: before the history
        self.in_history = in_history
        self.clips: list[Clip] = []
        self.generated = False
        self.history_entry: dict[str, str] | None = None
        self.task: asyncio.Task[None] | None = None
        self.started_at: float | None = None  # its first frame went out
        self.held_at: float | None = None  # paused while the caller speaks over it

    @property
    def text(self) -> str:
        return " ".join(c.text for c in self.clips)

    def heard(self, playout: Playout) -> str:
        """The words the caller heard: whole clauses, then the played share of the next."""
        words: list[str] = []
        for clip in self.clips:
            played = playout.played(clip.utterance)
            if played >= clip.audio.size:
                words.extend(clip.text.split())
                continue
            clause = clip.text.split()
            words.extend(clause[: int(len(clause) * played / max(clip.audio.size, 1))])
            break
        return " ".join(words)

    def started_playing(self, playout: Playout) -> bool:
        return bool(self.clips) and playout.played(self.clips[0].utterance) > 0

    def finished(self, playout: Playout) -> bool:
        return self.generated and all(
            playout.played(c.utterance) >= c.audio.size for c in self.clips
        )
