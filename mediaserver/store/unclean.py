"""Closing the calls a killed server (or cluster worker) left open, as
`unclean`. Each call is closed in its own transaction together with what
goes with its end (the caller's `on_closed`, e.g. its call.ended webhook
event), and only by the conditional UPDATE that wins: a second start, or a
second process closing at the same time, finds it closed and sends nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mediaserver.store.rows import _row
from mediaserver.store.tables import call_events, calls, turns

OnClosed = Callable[[Connection, dict[str, Any]], None]  # (the transaction, the closed call)


def read_call(c: Connection, call_id: str) -> dict[str, Any] | None:
    """The call with its turns and events, in order, as connection `c` sees it."""
    row = c.execute(sa.select(calls).where(calls.c.id == call_id)).first()
    if row is None:
        return None
    call = _row(row)
    call["turns"] = [
        _row(r, drop=("call_id",))
        for r in c.execute(sa.select(turns).where(turns.c.call_id == call_id).order_by(turns.c.id))
    ]
    call["events"] = [
        _row(r, drop=("call_id",))
        for r in c.execute(
            sa.select(call_events)
            .where(call_events.c.call_id == call_id)
            .order_by(call_events.c.id)
        )
    ]
    return call


def close_unclean(
    engine: Engine, worker: str | None = None, on_closed: OnClosed | None = None
) -> int:
    """End the open calls (with `worker`: only that worker's) as `unclean`, at
    the last moment each was known alive; how many this call closed."""
    last_alive = sa.func.coalesce(calls.c.last_seen_at, calls.c.answered_at, calls.c.created_at)
    still_open: list[sa.ColumnElement[bool]] = [calls.c.ended_at.is_(None)]
    if worker is not None:
        still_open.append(calls.c.worker == worker)
    with engine.connect() as c:
        call_ids = list(c.scalars(sa.select(calls.c.id).where(*still_open)))
    closed = 0
    for call_id in call_ids:
        with engine.begin() as c:
            won = c.execute(
                calls.update()
                .where(calls.c.id == call_id, *still_open)
                .values(ended_at=last_alive, end_reason="unclean")
            ).rowcount
            if not won:
                continue  # another process closed it meanwhile
            closed += 1
            call = read_call(c, call_id)
            if on_closed is not None and call is not None:
                on_closed(c, call)
    return closed
