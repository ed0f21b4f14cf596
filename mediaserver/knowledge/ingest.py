"""Uploads into an agent's knowledge base, off the event loop.

The upload itself is parsed and chunked before it is answered, so bad input
gets its 4xx and stores nothing. Embedding (seconds for a long document)
happens after, in one bounded worker: the document is listed as
"processing" until all its chunks are stored in one transaction ("ready"),
or it is "failed" with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mediaserver.config_knowledge import KnowledgeConfig
from mediaserver.knowledge.chunk import units
from mediaserver.knowledge.embed import EmbedderSource
from mediaserver.knowledge.index import KnowledgeIndex
from mediaserver.knowledge.parse import DocumentError, content_type, parse
from mediaserver.store.documents import Documents

log = logging.getLogger(__name__)

BATCH = 16  # chunks embedded at once


class Busy(Exception):
    """Too many documents wait to be embedded: try again later (503)."""


@dataclass(frozen=True, slots=True)
class _Job:
    document_id: str
    agent: str
    language: str
    texts: list[str]


class Ingest:
    def __init__(
        self,
        documents: Documents,
        index: KnowledgeIndex,
        embedders: EmbedderSource,
        config: KnowledgeConfig,
        language_of: Callable[[str], str],
    ) -> None:
        self.documents = documents
        self.index = index
        self.embedders = embedders
        self.config = config
        self.language_of = language_of  # agent name -> its language
        self.max_bytes = config.max_upload_mb * 1024 * 1024
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task[None] | None = None
        # parsing an upload never waits behind the embedding of an earlier one
        self._parsing = ThreadPoolExecutor(1, thread_name_prefix="knowledge-parse")
        self._embedding = ThreadPoolExecutor(1, thread_name_prefix="knowledge-embed")

    async def upload(self, agent: str, filename: str, data: bytes) -> dict[str, Any]:
        """Parse and chunk now (DocumentError: bad input); embed in the worker."""
        if len(data) > self.max_bytes:
            raise DocumentError(f"the file is over the {self.config.max_upload_mb} MB limit")
        kind = content_type(filename)
        queue = self._started()
        if queue.full():
            raise Busy(f"{queue.qsize()} documents are waiting to be processed; try again later")
        loop = asyncio.get_running_loop()
        texts = await loop.run_in_executor(self._parsing, _chunked, kind, data)
        language = await loop.run_in_executor(None, self.language_of, agent)
        row = await loop.run_in_executor(None, self.documents.add, agent, filename, kind, len(data))
        try:
            queue.put_nowait(_Job(row["id"], agent, language, texts))
        except asyncio.QueueFull:
            await loop.run_in_executor(None, self.documents.delete, agent, row["id"])
            raise Busy("too many documents are waiting to be processed; try again later") from None
        return row

    async def delete(self, agent: str, document_id: str) -> bool:
        loop = asyncio.get_running_loop()
        deleted = await loop.run_in_executor(None, self.documents.delete, agent, document_id)
        self.index.invalidate(agent)
        return deleted

    async def idle(self) -> None:
        """Every queued document processed (tests, benches)."""
        if self._queue is not None:
            await self._queue.join()

    def _started(self) -> asyncio.Queue[_Job]:
        if self._queue is None:
            self._queue = asyncio.Queue(self.config.queue)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(self._queue))
        return self._queue

    async def _work(self, queue: asyncio.Queue[_Job]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await queue.get()
            try:
                await loop.run_in_executor(self._embedding, self._embed_and_store, job)
            except Exception as exc:
                log.warning("document %s failed: %s", job.document_id, exc)
                with contextlib.suppress(Exception):
                    await loop.run_in_executor(
                        None, self.documents.failed, job.document_id, str(exc) or type(exc).__name__
                    )
            finally:
                self.index.invalidate(job.agent)
                queue.task_done()

    def _embed_and_store(self, job: _Job) -> None:
        name = self.embedders.name_for(job.language)
        embedder = self.embedders.get(name)
        vectors = np.zeros((len(job.texts), embedder.dim), dtype=np.float32)
        for start in range(0, len(job.texts), BATCH):
            batch = job.texts[start : start + BATCH]
            vectors[start : start + len(batch)] = embedder.embed(batch)
        if self.documents.ready(job.document_id, name, job.texts, vectors):
            log.info("document %s ready: %d chunks", job.document_id, len(job.texts))

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._parsing.shutdown(wait=False, cancel_futures=True)
        self._embedding.shutdown(wait=False, cancel_futures=True)


def _chunked(kind: str, data: bytes) -> list[str]:
    pieces = units(parse(kind, data))
    if not pieces:
        raise DocumentError("the document holds no text")
    return pieces
