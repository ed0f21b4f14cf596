"""The covered decision on the real MiniLM: the bench's sample FAQ stored as
ingest stores it (units), every question of the evaluation set that the FAQ
answers reaches [knowledge] covered_score, and most of those it does not
cover stay below it. (Stored as before, in 60-word chunks, a third of the
answerable questions scored under that threshold.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mediaserver.config import Config, KnowledgeConfig
from mediaserver.knowledge.chunk import chunks, units
from mediaserver.knowledge.embed import Embedders
from models.embed import Embedder

pytestmark = pytest.mark.integration

DATA = Path(__file__).parents[2] / "bench" / "data"
EVAL = json.loads((DATA / "agent_eval.json").read_text())
FAQ = (DATA / EVAL["document"]).read_text()


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    config = KnowledgeConfig()
    return Embedders(config, Config().models).get(config.english_model)


def best_scores(embedder: Embedder, pieces: list[str], category: str) -> np.ndarray:
    questions = embedder.embed([item["q"] for item in EVAL[category]], query=True)
    return np.asarray((embedder.embed(pieces) @ questions.T).max(axis=0))


def test_units_separate_the_questions_the_faq_answers_from_the_others(minilm: Embedder) -> None:
    threshold = KnowledgeConfig().covered_score
    answerable = best_scores(minilm, units(FAQ), "answer")
    uncovered = best_scores(minilm, units(FAQ), "refuse")
    missed = [q["q"] for q, s in zip(EVAL["answer"], answerable, strict=True) if s < threshold]
    assert missed == []
    assert (uncovered < threshold).mean() >= 0.6


def test_old_chunks_did_not(minilm: Embedder) -> None:
    """Why units: the same threshold on 60-word chunks loses answerable questions."""
    answerable = best_scores(minilm, chunks(FAQ), "answer")
    assert (answerable < KnowledgeConfig().covered_score).mean() > 0.2
