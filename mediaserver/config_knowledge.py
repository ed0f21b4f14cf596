"""[knowledge]: agents' document uploads and retrieval during calls."""

from __future__ import annotations

from dataclasses import dataclass

from mediaserver.config_base import require


@dataclass(frozen=True, slots=True)
class KnowledgeConfig:
    enabled: bool = True  # false: no /agents/{name}/documents, no retrieval in calls
    max_upload_mb: int = 50  # a larger upload is refused before it is read whole
    english_model: str = "minilm-l6-v2-int8"  # embeddings for agents in English
    # for agents in other languages; "" or not installed: english_model for all
    other_model: str = "multilingual-e5-small-q4"
    top_k: int = 4  # chunks (sentence-sized units) searched per question
    # units given either side of each one found, from its document (0: the
    # section heading each unit carries was context enough on the bench)
    context: int = 0
    min_score: float = 0.15  # cosine similarity below this is not a fact
    # no unit this similar: the agent is told its documents do not cover the
    # question (say so, offer a call back) instead of given facts; -1: never
    covered_score: float = 0.39
    # the same for a document stored before units (60-word chunks score lower)
    legacy_covered_score: float = 0.15
    facts_tokens: int = 300  # the prompt's budget for facts
    timeout_ms: int = 300  # a search slower than this is skipped for the reply
    queue: int = 8  # documents waiting to be embedded; more: 503

    def __post_init__(self) -> None:
        require(1 <= self.max_upload_mb <= 1024, "knowledge.max_upload_mb", "expected 1 to 1024")
        require(1 <= self.top_k <= 20, "knowledge.top_k", "expected 1 to 20")
        require(-1.0 <= self.min_score <= 1.0, "knowledge.min_score", "expected -1 to 1")
        require(0 <= self.context <= 5, "knowledge.context", "expected 0 to 5")
        require(-1.0 <= self.covered_score <= 1.0, "knowledge.covered_score", "expected -1 to 1")
        require(
            -1.0 <= self.legacy_covered_score <= 1.0,
            "knowledge.legacy_covered_score",
            "expected -1 to 1",
        )
        require(0 <= self.facts_tokens <= 4000, "knowledge.facts_tokens", "expected 0 to 4000")
        require(10 <= self.timeout_ms <= 5000, "knowledge.timeout_ms", "expected 10 to 5000")
        require(1 <= self.queue <= 1000, "knowledge.queue", "expected 1 to 1000")
        require(bool(self.english_model), "knowledge.english_model", "must not be empty")
