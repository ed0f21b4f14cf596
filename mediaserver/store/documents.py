"""The knowledge base's rows: documents per agent and their chunks' vectors.

Synchronous and short, like Store: callers on the event loop go through a
worker thread. A document becomes ready in one transaction that stores all
its chunks and removes the older document of the same name, so a search
never sees half a document, nor two versions of one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from mediaserver.store.db import Store
from mediaserver.store.rows import _row, utcnow
from mediaserver.store.tables import agents, chunks, documents
from mediaserver.store.text import fit

PROCESSING, READY, FAILED = "processing", "ready", "failed"


@dataclass(frozen=True, slots=True)
class AgentChunks:
    """An agent's ready chunks of one embedder: ids, texts, document names,
    and the vectors as one (n, dim) float32 matrix."""

    ids: np.ndarray
    texts: list[str]
    documents: list[str]
    vectors: np.ndarray


class Documents:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def add(self, agent: str, name: str, content_type: str, size: int) -> dict[str, Any]:
        """A new document, processing."""
        at = utcnow()
        row = fit(
            documents,
            id=uuid.uuid4().hex,
            agent=agent,
            name=name,
            content_type=content_type,
            size=size,
            status=PROCESSING,
            reason="",
            chunk_count=0,
            embedder="",
            created_at=at,
            updated_at=at,
        )
        with self.engine.begin() as c:
            c.execute(documents.insert().values(row))
        return self.get(agent, row["id"]) or row

    def get(self, agent: str, document_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(
                sa.select(documents).where(
                    documents.c.agent == agent, documents.c.id == document_id
                )
            ).first()
            return None if row is None else _row(row)

    def of_agent(self, agent: str) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(documents)
                .where(documents.c.agent == agent)
                .order_by(documents.c.created_at, documents.c.id)
            )
            return [_row(r) for r in rows]

    def ready(self, document_id: str, embedder: str, texts: list[str], vectors: np.ndarray) -> bool:
        """Store the chunks and mark the document ready, replacing any older
        document of the same agent and name; False if it was deleted meanwhile."""
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.engine.begin() as c:
            doc = c.execute(
                sa.select(documents.c.agent, documents.c.name)
                .where(documents.c.id == document_id)
                .with_for_update()
            ).first()
            if doc is None:
                return False
            older = sa.select(documents.c.id).where(
                documents.c.agent == doc.agent,
                documents.c.name == doc.name,
                documents.c.id != document_id,
            )
            older_ids = [r.id for r in c.execute(older)]
            if older_ids:  # no ON DELETE CASCADE reliance: SQLite may run without it
                c.execute(chunks.delete().where(chunks.c.document_id.in_(older_ids)))
                c.execute(documents.delete().where(documents.c.id.in_(older_ids)))
            if texts:
                c.execute(
                    chunks.insert(),
                    [
                        {
                            "document_id": document_id,
                            "agent": doc.agent,
                            "ordinal": i,
                            "text": text,
                            "vector": matrix[i].tobytes(),
                        }
                        for i, text in enumerate(texts)
                    ],
                )
            c.execute(
                documents.update()
                .where(documents.c.id == document_id)
                .values(
                    status=READY,
                    chunk_count=len(texts),
                    embedder=embedder,
                    updated_at=utcnow(),
                )
            )
        return True

    def failed(self, document_id: str, reason: str) -> None:
        row = fit(documents, reason=reason)
        with self.engine.begin() as c:
            c.execute(
                documents.update()
                .where(documents.c.id == document_id)
                .values(status=FAILED, reason=row["reason"], updated_at=utcnow())
            )

    def fail_unfinished(self) -> int:
        """Documents a stopped server was still processing: failed, to upload again."""
        with self.engine.begin() as c:
            result = c.execute(
                documents.update()
                .where(documents.c.status == PROCESSING)
                .values(
                    status=FAILED,
                    reason="the server stopped while processing it; upload it again",
                    updated_at=utcnow(),
                )
            )
            return int(result.rowcount or 0)

    def delete(self, agent: str, document_id: str) -> bool:
        with self.engine.begin() as c:
            where = sa.and_(documents.c.agent == agent, documents.c.id == document_id)
            if c.execute(sa.select(documents.c.id).where(where)).first() is None:
                return False
            c.execute(chunks.delete().where(chunks.c.document_id == document_id))
            c.execute(documents.delete().where(where))
            return True

    def signature(self, agent: str) -> tuple[int, str]:
        """Changes whenever the agent's ready chunks change: (count, newest update)."""
        with self.engine.connect() as c:
            row = c.execute(
                sa.select(sa.func.count(), sa.func.max(documents.c.updated_at)).where(
                    documents.c.agent == agent, documents.c.status == READY
                )
            ).one()
            return int(row[0]), str(row[1])

    def chunk_count(self, agent: str) -> int:
        with self.engine.connect() as c:
            return int(c.scalar(sa.select(sa.func.count()).where(chunks.c.agent == agent)) or 0)

    def load(self, agent: str, embedder: str, dim: int) -> AgentChunks:
        """The agent's ready chunks embedded by `embedder`."""
        query = (
            sa.select(chunks.c.id, chunks.c.text, chunks.c.vector, documents.c.name)
            .join(documents, documents.c.id == chunks.c.document_id)
            .where(
                chunks.c.agent == agent,
                documents.c.status == READY,
                documents.c.embedder == embedder,
            )
            .order_by(chunks.c.id)
        )
        with self.engine.connect() as c:
            rows = c.execute(query).all()
        vectors = np.empty((len(rows), dim), dtype=np.float32)
        for i, row in enumerate(rows):
            vectors[i] = np.frombuffer(row.vector, dtype=np.float32)
        return AgentChunks(
            np.array([r.id for r in rows], dtype=np.int64),
            [r.text for r in rows],
            [r.name for r in rows],
            vectors,
        )


def delete_agent_with_documents(store: Store, name: str) -> bool:
    """Remove the agent and its knowledge base (documents and chunks) in one
    transaction; its versions stay for the calls that used them. False if
    there is no such agent (nothing is removed). A document still being
    embedded finds its row gone and stores nothing (Documents.ready)."""
    with store.engine.begin() as c:
        if not c.execute(agents.delete().where(agents.c.name == name)).rowcount:
            return False
        c.execute(chunks.delete().where(chunks.c.agent == name))
        c.execute(documents.delete().where(documents.c.agent == name))
        return True
