"""bench.agent --facts retrieval: the sample FAQ as an agent's knowledge base
holds it (mediaserver/knowledge: cut into sentence-sized units, embedded by
MiniLM), the facts for each question found (the best units) and put just
before the caller's words, the "documents say nothing" line just after
them, as a live call puts them (conversation/speaker.py).

It also sweeps [knowledge] covered_score: a question whose best unit is
less similar than the threshold gets the "your documents say nothing about
this" line instead of facts. Each question is answered once with its facts
and, if its best chunk is below the sweep's highest threshold, once with the
line; a threshold's accuracy is then read off per question (the answer the
model gives depends only on which of the two prompts it gets, at
temperature 0)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.agent import (
    DOCUMENT,
    EVAL,
    Generated,
    first_turn,
    generate,
    grade_one,
    progress,
    spread,
    vars_of,
)
from bench.agent_grading import Verdict
from mediaserver.agents import RECEPTIONIST_INSTRUCTIONS, Agent
from mediaserver.config_knowledge import KnowledgeConfig
from mediaserver.conversation.knowledge import (
    NOT_COVERED_FACTS,
    Fact,
    Facts,
    facts_for_prompt,
)
from mediaserver.knowledge.chunk import units
from mediaserver.knowledge.index import top_facts
from mediaserver.store.documents import AgentChunks
from models import registry, store
from models.embed import MiniLM
from models.llm import LlamaLLM

SWEEP = (-1.0, 0.15, 0.3, 0.35, 0.39, 0.42, 0.45)  # -1: never (before this line existed)


class FaqKnowledge:
    """One document's units and vectors, searched as an agent's are."""

    def __init__(self, document: str, name: str, config: KnowledgeConfig) -> None:
        self.config = config
        self.embedder = MiniLM(store.locate(registry.by_name(config.english_model)), "bench")
        self.embedder.load()
        pieces = units(document)
        self.chunks = AgentChunks(
            np.arange(len(pieces)), pieces, [name] * len(pieces), self.embedder.embed(pieces)
        )

    def search(self, question: str) -> tuple[list[Fact], float]:
        """The facts a call would find for `question`, and its best unit's similarity."""
        query = self.embedder.embed([question], query=True)[0]
        config = self.config
        found = top_facts(self.chunks, query, config.top_k, config.min_score, config.context)
        return found, float(np.max(self.chunks.vectors @ query))

    def facts(self, found: list[Fact]) -> Facts:
        """The facts as they go into the prompt (without the covered_score line)."""
        return facts_for_prompt(found, self.config.facts_tokens)


def needs_line(best: float, threshold: float) -> bool:
    """Whether a question whose best chunk scores `best` gets the line at `threshold`
    (facts_for_prompt's rule; chunks below min_score are not found at all)."""
    return threshold > -1.0 and best < threshold


@dataclass
class Graded:
    """One question: its best chunk's similarity, and whether it passed with
    its facts and with the line (None: not asked with the line)."""

    category: str
    best: float
    with_facts: bool
    with_line: bool | None


def sweep(graded: list[Graded], thresholds: tuple[float, ...] = SWEEP) -> list[dict[str, float]]:
    """Answer accuracy and refusal rate at each threshold."""
    rows = []
    for threshold in thresholds:
        row: dict[str, float] = {"covered_score": threshold}
        for category, key in (("answer", "answer_accuracy"), ("refuse", "refusal_rate")):
            mine = [g for g in graded if g.category == category]
            passed = [g.with_line if needs_line(g.best, threshold) else g.with_facts for g in mine]
            row[key] = round(sum(bool(p) for p in passed) / len(mine), 3) if mine else float("nan")
        rows.append(row)
    return rows


def ask_knowledge(
    llm: LlamaLLM,
    agent: Agent,
    limit: int | None,
    results: dict[str, list[dict[str, Any]]],
    first_tokens: list[float],
) -> dict[str, Any]:
    """(a) and (b) with the facts a knowledge base finds (bench/agent_knowledge.py),
    graded at [knowledge] covered_score; returns the sweep and the similarities."""
    config = KnowledgeConfig()
    knowledge = FaqKnowledge(DOCUMENT, EVAL["document"], config)
    graded: list[Graded] = []
    for category in ("answer", "refuse"):
        results[category] = []
        for item in spread(EVAL[category], limit):
            found, best = knowledge.search(item["q"])
            asked = {"facts": knowledge.facts(found)}
            if needs_line(best, max(SWEEP)):
                asked["line"] = NOT_COVERED_FACTS
            verdicts: dict[str, tuple[Generated, Verdict]] = {}
            for how, given in asked.items():
                messages = first_turn(RECEPTIONIST_INSTRUCTIONS, agent, item["q"])
                messages[-1:-1] = given.messages  # as conversation/speaker.py puts them
                messages.extend(given.after)
                out = generate(llm, messages, agent)
                verdicts[how] = (out, grade_one(category, item, out.text))
            line = verdicts.get("line")
            graded.append(
                Graded(category, best, verdicts["facts"][1].passed, line and line[1].passed)
            )
            out, verdict = verdicts["line" if needs_line(best, config.covered_score) else "facts"]
            first_tokens.append(out.first_token_ms)
            results[category].append(
                {
                    "q": item["q"],
                    "a": out.text,
                    "a_facts": verdicts["facts"][0].text,
                    "a_line": line and line[0].text,
                    "best_score": round(best, 3),
                    **vars_of(verdict),
                }
            )
            progress(category, f"{item['q']} ({best:.2f})", out, verdict)
    return {
        "covered_score": config.covered_score,
        "covered_score_sweep": sweep(graded),
        "best_scores": {
            category: sorted(round(g.best, 3) for g in graded if g.category == category)
            for category in ("answer", "refuse")
        },
    }
