"""Searching an agent's chunks: its vectors held in memory as one float32
matrix (loaded on the first call after a change), a query embedded and
scored against all of them (brute force: a few thousand chunks take well
under a millisecond). Implements the conversation's Knowledge port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, runtime_checkable

import numpy as np

from mediaserver.agents import Agent
from mediaserver.config_knowledge import KnowledgeConfig
from mediaserver.conversation.knowledge import Fact, Retrieval
from mediaserver.knowledge.chunk import MAX_UNIT_WORDS
from mediaserver.knowledge.embed import EmbedderSource
from mediaserver.store.documents import AgentChunks, Documents
from models.embed import Embedder

log = logging.getLogger(__name__)


@runtime_checkable
class AsyncEmbedder(Protocol):
    """An embedder that waits on the network, not the CPU (services/remote_embed.py)."""

    async def embed_async(self, texts: list[str], query: bool = False) -> np.ndarray: ...


def top_facts(
    chunks: AgentChunks, query: np.ndarray, k: int, min_score: float, context: int = 0
) -> list[Fact]:
    """The k chunks nearest to `query` (L2-normalized) with at least min_score,
    best first, each with up to `context` neighbours either side of its
    document (units: a sentence alone leaves out what it is about). A chunk
    already given as another's neighbour is not given again."""
    if not len(chunks.ids):
        return []
    scores = chunks.vectors @ query
    k = min(k, scores.size)
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best])]
    given: set[int] = set()
    facts = []
    for i in (int(i) for i in best if scores[i] >= min_score):
        if i in given:
            continue
        legacy = _legacy(chunks, i)
        span = [i] if legacy else _neighbours(chunks, i, context, given)
        given.update(span)
        facts.append(
            Fact(
                int(chunks.ids[i]),
                chunks.documents[i],
                " ".join(chunks.texts[j] for j in span),
                float(scores[i]),
                legacy=legacy,
                context_ids=tuple(int(chunks.ids[j]) for j in span if j != i),
            )
        )
    return facts


def _neighbours(chunks: AgentChunks, i: int, context: int, given: set[int]) -> list[int]:
    """i and the units around it in its document (stored in order: consecutive
    ids), not already given, in the document's order."""
    span = [i]
    for step in (-1, 1):
        for j in range(i + step, i + step * (context + 1), step):
            if not 0 <= j < len(chunks.ids) or j in given:
                break
            same_document = chunks.documents[j] == chunks.documents[i]
            if not same_document or chunks.ids[j] - chunks.ids[i] != j - i:
                break
            if _legacy(chunks, j):
                break
            span.append(j)
    return sorted(span)


def _legacy(chunks: AgentChunks, i: int) -> bool:
    """A whole chunk of a document stored before units (longer than any unit)."""
    return len(chunks.texts[i].split()) > MAX_UNIT_WORDS


class AgentKnowledge:
    """One agent's chunks, as loaded at the start of a call."""

    def __init__(
        self,
        chunks: AgentChunks,
        embedder: Embedder,
        config: KnowledgeConfig,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.chunks = chunks
        self.embedder = embedder
        self.config = config
        self.executor = executor

    def search_now(self, text: str) -> list[Fact]:
        """Blocking: embed `text` and score every chunk."""
        query = self.embedder.embed([text], query=True)[0]
        return self.nearest(query)

    def nearest(self, query: np.ndarray) -> list[Fact]:
        config = self.config
        return top_facts(self.chunks, query, config.top_k, config.min_score, config.context)

    async def search(self, text: str) -> Sequence[Fact]:
        loop = asyncio.get_running_loop()
        if not isinstance(self.embedder, AsyncEmbedder):
            return await loop.run_in_executor(self.executor, self.search_now, text)
        # over HTTP: awaited here, so a slow service holds no thread other calls need
        query = (await self.embedder.embed_async([text], query=True))[0]
        return await loop.run_in_executor(self.executor, self.nearest, query)


class KnowledgeIndex:
    """Every agent's chunks, cached per process and checked against the store
    at each call's start (a cheap count), so a change made by another process
    (a cluster's control plane) is seen by the next call."""

    def __init__(
        self, documents: Documents, embedders: EmbedderSource, config: KnowledgeConfig
    ) -> None:
        self.documents = documents
        self.embedders = embedders
        self.config = config
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="knowledge-search")
        self._cache: dict[tuple[str, str], tuple[tuple[int, str], AgentChunks]] = {}

    def invalidate(self, agent: str) -> None:
        for key in [key for key in self._cache if key[0] == agent]:
            del self._cache[key]

    def load_now(self, agent: Agent) -> AgentKnowledge | None:
        """Blocking: the agent's knowledge, or None if it has no ready chunk."""
        signature = self.documents.signature(agent.name)
        if signature[0] == 0:
            return None
        name = self.embedders.name_for(agent.language)
        cached = self._cache.get((agent.name, name))
        if cached is None or cached[0] != signature:
            chunks = self.documents.load(agent.name, name, self.embedders.get(name).dim)
            self._cache[(agent.name, name)] = cached = (signature, chunks)
        if not len(cached[1].ids):
            return None
        return AgentKnowledge(cached[1], self.embedders.get(name), self.config, self.executor)

    async def for_call(self, agent: Agent) -> Retrieval | None:
        """Retrieval from the agent's knowledge for a new call (None: it has
        none, or it cannot be loaded: the call goes on without)."""
        try:
            knowledge = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.load_now, agent
            )
        except Exception:
            log.exception("the knowledge base of %s cannot be loaded", agent.name)
            return None
        if knowledge is None:
            return None
        return Retrieval(
            knowledge,
            budget_tokens=self.config.facts_tokens,
            covered_score=self.config.covered_score,
            legacy_covered_score=self.config.legacy_covered_score,
            timeout_s=self.config.timeout_ms / 1000,
        )

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
