"""What the live view streams: the calls in progress and their newest turns."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mediaserver.store.tables import calls, turns

MOST_LIVE = 200  # calls shown at once


def live_calls(
    engine: Engine, after_turn: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the calls in progress, their turns with an id above `after_turn`)."""
    with engine.connect() as c:
        rows = c.execute(
            sa.select(
                calls.c.id,
                calls.c.transport,
                calls.c.direction,
                calls.c.from_uri,
                calls.c.to_uri,
                calls.c.agent,
                calls.c.created_at,
            )
            .where(calls.c.ended_at.is_(None))
            .order_by(calls.c.created_at)
            .limit(MOST_LIVE)
        )
        live = [{**dict(row._mapping), "created_at": row.created_at.isoformat()} for row in rows]
        if not live:
            return [], []
        new = c.execute(
            sa.select(
                turns.c.id, turns.c.call_id, turns.c.speaker, turns.c.text, turns.c.interrupted
            )
            .where(turns.c.call_id.in_([call["id"] for call in live]), turns.c.id > after_turn)
            .order_by(turns.c.id)
        )
        return live, [dict(row._mapping) for row in new]
