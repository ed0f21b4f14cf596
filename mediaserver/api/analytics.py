"""/analytics: what the analytics page charts, over a time range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from mediaserver.api.auth import Auth
from mediaserver.store import Store
from mediaserver.store.analytics import Range, analytics

LONGEST = timedelta(days=366)


class DayFigures(BaseModel):
    day: str
    agent: str
    calls: int
    talk_seconds: float


class Latency(BaseModel):
    day: str
    turns: int
    p50_ms: float
    p95_ms: float


class Analytics(BaseModel):
    since: datetime
    until: datetime
    days: list[DayFigures]
    outcomes: dict[str, int]
    voice_to_voice: list[Latency]


def router(store: Store, auth: Auth) -> APIRouter:
    api = APIRouter(tags=["analytics"], dependencies=[Depends(auth.viewer)])

    @api.get("/analytics", response_model=Analytics)
    async def get_analytics(
        since: datetime | None = None,
        until: datetime | None = None,
        agent: Annotated[str | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:
        """Calls per day and agent, outcomes, voice-to-voice p50/p95 per day (UTC);
        by default the last 30 days, at most 366."""
        end = until or datetime.now(UTC)
        start = since or end - timedelta(days=30)
        if start.tzinfo is None or end.tzinfo is None:
            raise HTTPException(400, "since and until need a time zone (e.g. Z)")
        if not start < end <= start + LONGEST:
            raise HTTPException(400, "since must be before until, at most 366 days before")
        figures = await run_in_threadpool(analytics, store.engine, Range(start, end, agent))
        return {"since": start, "until": end, **figures}

    return api
