"""What every part of the store shares: its error, the clock, and rows as dicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


class StoreError(Exception):
    """The store cannot be opened or does not hold what was asked for."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive: they were written in UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _row(row: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {}
    for key, value in row._mapping.items():
        if key in drop:
            continue
        out[key] = _utc(value) if isinstance(value, datetime) else value
    return out
