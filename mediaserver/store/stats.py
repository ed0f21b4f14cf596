"""Per-call figures for the list of calls: how many turns, and the median
voice-to-voice latency (first agent audio out after the caller stopped)."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mediaserver.store.tables import turns


@dataclass(frozen=True, slots=True)
class TurnStats:
    turn_count: int = 0
    voice_to_voice_p50_ms: float | None = None


def turn_stats(engine: Engine, call_ids: list[str]) -> dict[str, TurnStats]:
    """The figures of each call in `call_ids` (one page of the list)."""
    if not call_ids:
        return {}
    counts: dict[str, int] = {}
    latencies: dict[str, list[float]] = {}
    with engine.connect() as c:
        rows = c.execute(
            sa.select(turns.c.call_id, turns.c.timings_ms).where(turns.c.call_id.in_(call_ids))
        )
        for call_id, timings in rows:
            counts[call_id] = counts.get(call_id, 0) + 1
            v2v = (timings or {}).get("first_audio_out")
            if isinstance(v2v, int | float):
                latencies.setdefault(call_id, []).append(float(v2v))
    return {
        call_id: TurnStats(
            count, round(median(latencies[call_id]), 1) if call_id in latencies else None
        )
        for call_id, count in counts.items()
    }
