"""Figures over a time range for the analytics page: calls and talk time per
day and agent, outcomes, and voice-to-voice p50/p95 per day. Days are UTC."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mediaserver.store.tables import calls, turns


@dataclass(frozen=True, slots=True)
class Range:
    since: datetime
    until: datetime
    agent: str | None = None


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def analytics(engine: Engine, where: Range) -> dict[str, Any]:
    conditions = [calls.c.created_at >= where.since, calls.c.created_at < where.until]
    if where.agent is not None:
        conditions.append(calls.c.agent == where.agent)
    per_day: dict[tuple[str, str], dict[str, Any]] = {}
    outcomes: dict[str, int] = {}
    latencies: dict[str, list[float]] = {}
    with engine.connect() as c:
        rows = c.execute(
            sa.select(
                calls.c.created_at,
                calls.c.answered_at,
                calls.c.ended_at,
                calls.c.agent,
                calls.c.end_reason,
            ).where(*conditions)
        )
        for created, answered, ended, agent, reason in rows:
            day = created.date().isoformat()
            figures = per_day.setdefault(
                (day, agent), {"day": day, "agent": agent, "calls": 0, "talk_seconds": 0.0}
            )
            figures["calls"] += 1
            if answered is not None and ended is not None:
                figures["talk_seconds"] += max(0.0, (ended - answered).total_seconds())
            outcome = reason or ("live" if ended is None else "ended")
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        timed = c.execute(
            sa.select(calls.c.created_at, turns.c.timings_ms)
            .join(turns, turns.c.call_id == calls.c.id)
            .where(*conditions, turns.c.timings_ms.is_not(None))
        )
        for created, timings in timed:
            v2v = (timings or {}).get("first_audio_out")
            if isinstance(v2v, int | float):
                latencies.setdefault(created.date().isoformat(), []).append(float(v2v))
    return {
        "days": sorted(per_day.values(), key=lambda d: (d["day"], d["agent"])),
        "outcomes": dict(sorted(outcomes.items(), key=lambda o: -o[1])),
        "voice_to_voice": [
            {
                "day": day,
                "turns": len(values),
                "p50_ms": percentile(values, 0.5),
                "p95_ms": percentile(values, 0.95),
            }
            for day, values in sorted(latencies.items())
        ],
    }
