"""The store's record of the tools agents called (table tool_calls)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from mediaserver.events import ToolCall
from mediaserver.store.db import Store
from mediaserver.store.tables import tool_calls
from mediaserver.store.text import fit


def add_tool_call(store: Store, call_id: str, at_s: float, call: ToolCall) -> None:
    row = fit(
        tool_calls,
        call_id=call_id,
        at_s=at_s,
        name=call.name,
        arguments=call.arguments,
        status=call.status,
        latency_ms=call.latency_ms,
        detail=call.detail,
    )

    with store.engine.begin() as c:
        c.execute(tool_calls.insert().values(row))


def tool_calls_of(engine: Engine, call_id: str) -> list[dict[str, Any]]:
    """The call's tool calls, in order."""
    with engine.connect() as c:
        rows = c.execute(
            sa.select(tool_calls).where(tool_calls.c.call_id == call_id).order_by(tool_calls.c.id)
        )
        return [{k: v for k, v in row._mapping.items() if k != "call_id"} for row in rows]
