"""The post-call analysis kept on the call (calls.analysis): pending while it
waits for the worker, then done or failed; the webhook event that follows it
is written in the same transaction as its result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mediaserver.store.tables import calls

PENDING = "pending"


def set_analysis(
    engine: Engine,
    call_id: str,
    analysis: dict[str, Any] | None,
    then: Callable[[Connection], object] | None = None,
) -> bool:
    """Store `analysis` on the call, and run `then` (e.g. write a webhook
    event) in the same transaction; whether the call exists."""
    with engine.begin() as c:
        updated = c.execute(calls.update().where(calls.c.id == call_id).values(analysis=analysis))
        if not updated.rowcount:
            return False
        if then is not None:
            then(c)
        return True


def pending_analyses(engine: Engine, limit: int = 100, worker: str | None = None) -> list[str]:
    """Ended calls whose analysis waits (e.g. queued when the server stopped),
    oldest first; `worker`: only that cluster worker's."""
    status = calls.c.analysis["status"].as_string()
    where = [calls.c.ended_at.is_not(None), status == PENDING]
    if worker is not None:
        where.append(calls.c.worker == worker)
    with engine.connect() as c:
        rows = c.execute(
            sa.select(calls.c.id).where(*where).order_by(calls.c.ended_at).limit(limit)
        )
        return [str(r.id) for r in rows]
