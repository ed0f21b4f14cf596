"""Sentence-sized units (what ingest stores now), the search that gives a
unit with its neighbours, and the covered decision on units, with a whole
chunk of a document stored before units judged as before."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest

from mediaserver.agents import Agent
from mediaserver.config_knowledge import KnowledgeConfig
from mediaserver.conversation.knowledge import (
    NOT_COVERED_FACTS,
    Fact,
    covered,
    facts_for_prompt,
)
from mediaserver.knowledge.chunk import MAX_UNIT_WORDS, chunks, units
from mediaserver.knowledge.index import KnowledgeIndex, top_facts
from mediaserver.knowledge.ingest import _chunked
from mediaserver.store.documents import AgentChunks

FAQ = """\
# Riverside Dental

## Opening hours
Monday to Friday: 8 am to 6 pm.
Saturday: 9 am to 1 pm. Closed on Sunday.

## Our team
Dr. Patel: general dentistry. Dr. Moreno sees children.
"""


def words(texts: list[str]) -> list[str]:
    return re.findall(r"\w+", " ".join(texts).lower())


# -- units ----------------------------------------------------------------------------
def test_units_are_sentences_each_with_its_section_heading() -> None:
    assert units(FAQ) == [
        "Riverside Dental",  # a title: nothing under it, a unit alone
        "Opening hours: Monday to Friday: 8 am to 6 pm.",
        "Opening hours: Saturday: 9 am to 1 pm.",
        "Opening hours: Closed on Sunday.",
        "Our team: Dr. Patel: general dentistry.",  # "Dr." ends no sentence
        "Our team: Dr. Moreno sees children.",
    ]


def test_a_line_a_pdf_wrapped_is_joined_and_a_question_heads_its_answer() -> None:
    text = (
        "Please arrive ten minutes early for your first visit and\n"
        "bring an ID and your insurance card.\n"
        "Toothache? Call before 10 am."
    )
    assert units(text) == [
        "Please arrive ten minutes early for your first visit and bring an ID and your "
        "insurance card.",
        "Toothache? Call before 10 am.",
    ]


def test_short_lines_in_a_row_are_kept_as_a_list_under_the_first() -> None:
    text = "Insurance\n- Aetna\n- Cigna\n- Delta Dental\nWe also take cash."
    assert units(text) == ["Insurance: Aetna, Cigna, Delta Dental", "Insurance: We also take cash."]
    assert units("Parking is free.\nThank you") == ["Parking is free.", "Thank you"]


@pytest.mark.parametrize("sentence_words", [10, 40, 200])
def test_no_unit_is_over_the_limit_and_no_word_is_lost(sentence_words: int) -> None:
    sentence = " ".join(f"w{i}" for i in range(sentence_words)) + "."
    text = f"Prices\n{sentence} Short one.\n\nHours\nOpen 8 to 6."
    found = units(text)
    assert all(len(u.split()) <= MAX_UNIT_WORDS for u in found)
    assert set(words([text])) <= set(words(found))
    assert units("   \n\n ") == []


def test_old_chunks_are_longer_than_any_unit() -> None:
    """index.py tells a chunk stored before units by its length."""
    text = " ".join(f"Sentence number {i} says one thing." for i in range(40))
    assert all(len(c.split()) > MAX_UNIT_WORDS for c in chunks(text)[:-1])


def test_ingest_stores_units() -> None:
    assert _chunked("md", FAQ.encode()) == units(FAQ)


# -- search: a unit and its neighbours ---------------------------------------------------
def agent_chunks(texts: list[str], ids: list[int], documents: list[str]) -> AgentChunks:
    return AgentChunks(
        np.array(ids, dtype=np.int64), texts, documents, np.eye(len(texts), dtype=np.float32)
    )


def test_a_unit_comes_with_its_neighbours_of_the_same_document_in_order() -> None:
    found_chunks = agent_chunks(
        ["a0.", "a1.", "a2.", "a3.", "b0."], [1, 2, 3, 4, 5], ["a.md"] * 4 + ["b.md"]
    )
    query = np.array([0.0, 0.0, 0.8, 0.0, 0.6], dtype=np.float32)
    facts = top_facts(found_chunks, query, k=2, min_score=0.1, context=1)
    assert [(f.chunk_id, f.text, f.context_ids) for f in facts] == [
        (3, "a1. a2. a3.", (2, 4)),
        (5, "b0.", ()),  # a3 is a.md's: not b0's neighbour
    ]
    assert facts_for_prompt(facts, 200).chunk_ids == (3, 2, 4, 5)
    # without context: the unit alone (the default)
    assert [f.text for f in top_facts(found_chunks, query, 2, 0.1)] == ["a2.", "b0."]


def test_a_neighbour_is_given_once_and_a_gap_in_ids_is_no_neighbour() -> None:
    found_chunks = agent_chunks(["a0.", "a1.", "a2."], [1, 2, 9], ["a.md"] * 3)
    query = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    facts = top_facts(found_chunks, query, k=3, min_score=0.1, context=1)
    assert [(f.chunk_id, f.text) for f in facts] == [(2, "a0. a1.")]  # a0 found too: given once


def test_an_old_documents_chunk_is_marked_legacy_and_given_alone() -> None:
    old = " ".join(["word"] * (MAX_UNIT_WORDS + 1))
    found_chunks = agent_chunks(["unit one.", old, "unit two."], [1, 2, 3], ["a.md"] * 3)
    query = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    (fact,) = top_facts(found_chunks, query, k=1, min_score=0.1, context=1)
    assert (fact.text, fact.legacy, fact.context_ids) == (old, True, ())


# -- covered: units against covered_score, old chunks against the legacy score -----------
def test_a_legacy_chunk_is_judged_by_the_legacy_threshold() -> None:
    unit = Fact(1, "new.md", "Parking is free.", 0.3)
    legacy = Fact(2, "old.md", "Parking is free ...", 0.3, legacy=True)
    assert not covered([unit], 0.39, 0.15)
    assert covered([legacy], 0.39, 0.15)
    assert covered([unit, legacy], 0.39, 0.15)
    assert not covered([legacy], 0.39)  # no legacy threshold given: the one for units
    assert covered([], -1.0, 0.15)  # -1: never the line
    assert facts_for_prompt([unit], 200, 0.39, 0.15) == NOT_COVERED_FACTS
    assert facts_for_prompt([legacy], 200, 0.39, 0.15).chunk_ids == (2,)


class OneDocument:
    """The store's chunks of one agent: given texts and vectors."""

    def __init__(self, texts: list[str], vectors: np.ndarray) -> None:
        self.texts, self.vectors = texts, vectors

    def signature(self, agent: str) -> tuple[int, str]:
        return (1, "2026-01-01")

    def load(self, agent: str, embedder: str, dim: int) -> AgentChunks:
        ids = np.arange(1, len(self.texts) + 1)
        return AgentChunks(ids, self.texts, ["faq.md"] * len(self.texts), self.vectors)


class FixedQuery:
    name, dim = "fixed", 2

    def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        return np.array([[1.0, 0.0]] * len(texts), dtype=np.float32)


class FixedEmbedders:
    def name_for(self, language: str) -> str:
        return "fixed"

    def get(self, name: str) -> FixedQuery:
        return FixedQuery()


@pytest.mark.parametrize(("long", "is_covered"), [(False, False), (True, True)])
def test_the_index_judges_an_old_documents_chunk_by_the_legacy_threshold(
    long: bool, is_covered: bool
) -> None:
    """A question whose best match scores 0.3: not covered by a unit (0.39),
    covered by a 60-word chunk of a document stored before units (0.15)."""
    text = " ".join(["Parking is free behind the clinic."] * (10 if long else 1))
    vector = np.array([[0.3, np.sqrt(1 - 0.09)]], dtype=np.float32)

    async def main() -> None:
        config = KnowledgeConfig(covered_score=0.39, legacy_covered_score=0.15)
        index = KnowledgeIndex(OneDocument([text], vector), FixedEmbedders(), config)  # type: ignore[arg-type]
        retrieval = await index.for_call(Agent())
        assert retrieval is not None
        facts = await retrieval.facts("Where do I park?")
        assert (facts != NOT_COVERED_FACTS) is is_covered
        index.close()

    asyncio.run(main())


def test_the_new_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="legacy_covered_score"):
        KnowledgeConfig(legacy_covered_score=2.0)
    with pytest.raises(ValueError, match="context"):
        KnowledgeConfig(context=-1)
