"""Migration 0006 on SQLite and PostgreSQL: the tool_calls table as
store/tables.py declares it; a call's tool calls kept in order, deleted
with the call."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mediaserver.events import ToolCall
from mediaserver.store import Store
from mediaserver.store.tables import metadata, tool_calls
from mediaserver.store.tool_calls import add_tool_call, tool_calls_of

pytestmark = pytest.mark.integration


def test_tool_calls_are_stored_in_order(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with store.engine.connect() as c:
            diff = compare_metadata(MigrationContext.configure(c), metadata)
        assert [d for d in diff if "tool_calls" in repr(d)] == []
        call_id = store.call_created(transport="sip", direction="inbound", agent="default")
        add_tool_call(store, call_id, 3.2, ToolCall("book", '{"day":"Monday"}', "ok", 41.5))
        add_tool_call(store, call_id, 7.0, ToolCall("x" * 80, "{}", "timeout", 5000.0, "slow"))
        rows = tool_calls_of(store.engine, call_id)
        assert [(r["name"][:4], r["status"], r["at_s"]) for r in rows] == [
            ("book", "ok", 3.2),
            ("xxxx", "timeout", 7.0),
        ]
        assert rows[0]["arguments"] == '{"day":"Monday"}' and rows[1]["detail"] == "slow"
        assert len(rows[1]["name"]) == 64  # cut to its column
        with store.engine.begin() as c:
            c.execute(sa.text("DELETE FROM calls WHERE id = :id"), {"id": call_id})
            left = c.scalar(sa.select(sa.func.count()).select_from(tool_calls))
        assert left == 0
    finally:
        store.close()
