"""The live view: GET /live streams the calls in progress and their turns as
server-sent events; POST /calls/{id}/hangup (admin) ends one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from mediaserver.api.auth import Auth
from mediaserver.store import Store
from mediaserver.store.live import live_calls

POLL_SECONDS = 1.0
STREAM_SECONDS = 300.0  # then the page reconnects: no stream is held for ever
MAX_STREAMS = 20


def _event(kind: str, data: object) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


HangUp = Callable[[str], Awaitable[bool]]  # a call record id -> whether it was live


def router(store: Store, auth: Auth, hang_up: HangUp | None) -> APIRouter:
    api = APIRouter(tags=["live"])
    streams = 0

    async def stream() -> AsyncIterator[str]:
        # counted here, not in the route: a stream never started is never counted
        nonlocal streams
        streams += 1
        try:
            shown: list[str] | None = None
            last_turn = 0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + STREAM_SECONDS
            # a client that goes away cancels this (Starlette's StreamingResponse)
            while loop.time() < deadline:
                live, new = await run_in_threadpool(live_calls, store.engine, last_turn)
                ids = [call["id"] for call in live]
                if ids != shown:
                    shown = ids
                    yield _event("calls", live)
                for turn in new:
                    last_turn = max(last_turn, turn["id"])
                    yield _event("turn", turn)
                yield ": alive\n\n"
                await asyncio.sleep(POLL_SECONDS)
        finally:
            streams -= 1

    @api.get(
        "/live",
        dependencies=[Depends(auth.viewer)],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, 503: {"description": "busy"}},
    )
    async def live() -> StreamingResponse:
        """Server-sent events: `calls` (the calls in progress, when they change) and
        `turn` (each new turn of one of them). The stream ends after 5 minutes."""
        if streams >= MAX_STREAMS:
            raise HTTPException(503, f"{MAX_STREAMS} live views are open: close one")
        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )

    @api.post(
        "/calls/{call_id}/hangup",
        status_code=204,
        dependencies=[Depends(auth.admin)],
        responses={404: {"description": "no such call in progress"}},
    )
    async def hangup(call_id: Annotated[str, PathParam(max_length=36)]) -> None:
        if hang_up is None or not await hang_up(call_id):
            raise HTTPException(404, f"no call {call_id!r} in progress here")

    return api
