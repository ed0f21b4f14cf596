"""What the turn engine needs from an agent's knowledge base: a search port,
and the facts it finds put in the prompt within a token budget (the speaker
puts them just before the caller's words); when no chunk is close enough
(covered_score), a line telling the agent to say it does not know instead,
just after the caller's words.

The search runs on the speculative transcript, during the endpointer's wait;
searches are kept by text, so the committed turn (or a speculation begun
again on the same words) reuses the one already done."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mediaserver.conversation.history import estimate_tokens
from mediaserver.speech import Message

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Fact:
    """One chunk of a document, as found for the caller's words (best first),
    with the chunks around it that `text` also holds (context_ids)."""

    chunk_id: int
    document: str
    text: str
    score: float
    # a whole chunk of a document stored before sentence-sized units: its
    # score is judged by legacy_covered_score
    legacy: bool = False
    context_ids: tuple[int, ...] = ()


class Knowledge(Protocol):
    async def search(self, text: str) -> Sequence[Fact]: ...


@dataclass(frozen=True, slots=True)
class Facts:
    """The system messages for a reply, and the chunks they hold."""

    messages: tuple[Message, ...] = ()  # just before the caller's words
    chunk_ids: tuple[int, ...] = ()
    after: tuple[Message, ...] = ()  # just after them


NO_FACTS = Facts()

# What an agent with documents is told when none of them covers the question:
# a small model given no facts otherwise answers from its own guesses. The
# sentence to say is spelled out: the 0.5B model copies it, where "say you do
# not know" left it guessing (bench.agent --facts retrieval: README). It
# comes after the caller's words: before them, the model still answered 5 of
# 13 ("Paris", a Python function); after them, none. (Facts after the words
# are worse: the model then declines what they answer.)
NOT_COVERED = (
    "None of your documents answers this question. Do not answer it: "
    "say only \"I'm sorry, I don't know that. Shall I have someone call you back?\""
)
NOT_COVERED_FACTS = Facts(after=({"role": "system", "content": NOT_COVERED},))


def covered(
    found: Sequence[Fact], covered_score: float, legacy_covered_score: float | None = None
) -> bool:
    """Whether a fact reaches its threshold (a legacy one: legacy_covered_score,
    if given); always, at -1."""
    if covered_score <= -1.0:
        return True
    legacy = covered_score if legacy_covered_score is None else legacy_covered_score
    return any(fact.score >= (legacy if fact.legacy else covered_score) for fact in found)


def facts_for_prompt(
    found: Sequence[Fact],
    budget_tokens: int,
    covered_score: float = -1.0,
    legacy_covered_score: float | None = None,
) -> Facts:
    """The best facts that fit `budget_tokens`, one "Facts from <document>: ..."
    message per document, documents in the order of their best fact; or, when
    no fact reaches `covered_score` (above -1), the NOT_COVERED line instead."""
    if not covered(found, covered_score, legacy_covered_score):
        return NOT_COVERED_FACTS
    by_document: dict[str, list[str]] = {}
    ids: list[int] = []
    budget = budget_tokens
    for fact in found:
        cost = estimate_tokens(fact.text) + (0 if fact.document in by_document else 8)
        if cost > budget:
            break
        budget -= cost
        by_document.setdefault(fact.document, []).append(fact.text)
        ids.extend((fact.chunk_id, *fact.context_ids))
    messages = tuple(
        {"role": "system", "content": f"Facts from {document}: " + " ... ".join(texts)}
        for document, texts in by_document.items()
    )
    return Facts(messages, tuple(ids))


class Retrieval:
    """Facts for the caller's words, one search per text, within a time limit
    (past it, the reply goes without: a slow search never holds the answer)."""

    def __init__(
        self,
        knowledge: Knowledge,
        *,
        budget_tokens: int = 300,
        covered_score: float = -1.0,
        legacy_covered_score: float | None = None,
        timeout_s: float = 0.3,
        remembered: int = 8,
    ) -> None:
        self.knowledge = knowledge
        self.budget_tokens = budget_tokens
        self.covered_score = covered_score
        self.legacy_covered_score = legacy_covered_score
        self.timeout_s = timeout_s
        self.remembered = remembered
        self.searches = 0  # searches started (a reused one is not counted again)
        self._by_text: OrderedDict[str, asyncio.Task[Facts]] = OrderedDict()

    async def facts(self, text: str) -> Facts:
        key = " ".join(text.lower().split())
        if not key:
            return NO_FACTS
        task = self._by_text.get(key)
        if task is None:
            self.searches += 1
            task = asyncio.create_task(self._search(key))
            self._by_text[key] = task
            while len(self._by_text) > self.remembered:
                self._by_text.popitem(last=False)  # not cancelled: a turn may still await it
        else:
            self._by_text.move_to_end(key)
        try:
            async with asyncio.timeout(self.timeout_s):
                # shielded: a speculation cancelled mid-search leaves it to the committed turn
                return await asyncio.shield(task)
        except TimeoutError:
            ms = self.timeout_s * 1e3
            log.warning("knowledge search took over %.0f ms; answering without", ms)
            return NO_FACTS

    async def _search(self, text: str) -> Facts:
        try:
            found = await self.knowledge.search(text)
        except Exception:
            log.exception("knowledge search failed; answering without")
            return NO_FACTS
        facts = facts_for_prompt(
            found, self.budget_tokens, self.covered_score, self.legacy_covered_score
        )
        if facts is NOT_COVERED_FACTS and only_courtesy(text):
            return NO_FACTS  # "thanks, bye" asks nothing a document could answer
        return facts

    def close(self) -> None:
        for task in self._by_text.values():
            task.cancel()
        self._by_text.clear()


# Words of thanks, greeting, assent and leave-taking: an utterance made only
# of them asks nothing, and gets no "I don't know that" (which the 0.5B model
# now says when told to).
COURTESY = re.compile(
    r"ok|okay|thanks|thank|you|so|much|very|bye|goodbye|bye-bye|yes|yeah|yep|no|nope|"
    r"hi|hello|hey|great|perfect|alright|all|right|sure|cool|fine|good|nice|that's|it|"
    r"please|have|a|day|one|wonderful|awesome"
)


def only_courtesy(text: str) -> bool:
    words = re.findall(r"[a-z'-]+", text.lower())
    return bool(words) and all(COURTESY.fullmatch(word) for word in words)
