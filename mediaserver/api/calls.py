"""/calls: the record of every call, its transcript, and its recording."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from mediaserver.api.auth import Auth
from mediaserver.store import CallFilter, Store
from mediaserver.store.stats import TurnStats, turn_stats
from mediaserver.store.tool_calls import tool_calls_of

CallId = Annotated[str, PathParam(max_length=36)]


class TurnOut(BaseModel):
    id: int
    speaker: str
    text: str
    start_s: float | None
    end_s: float | None
    interrupted: bool
    timings_ms: dict[str, float] | None
    chunks: list[int] | None = None  # knowledge-base chunks the agent's answer was given


class EventOut(BaseModel):
    id: int
    at_s: float
    kind: str
    value: str


class CallOut(BaseModel):
    id: str
    transport: str
    direction: str
    from_uri: str
    to_uri: str
    trunk: str
    agent: str
    agent_version: int
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    sip_code: int | None
    transfer_target: str | None
    transfer_outcome: str | None
    recording_path: str | None
    external_id: str = ""  # the carrier's id of the call (Twilio: the CallSid)
    worker: str = ""  # the cluster media worker that held it ("": one process)
    amd: str | None = Field(
        None, description="outbound answering-machine detection: human, machine or unknown"
    )
    amd_decision_s: float | None = Field(None, description="seconds after the answer")
    amd_beep: bool | None = Field(None, description="a voicemail beep was heard")


class ToolCallOut(BaseModel):
    id: int
    at_s: float
    name: str
    arguments: str  # JSON, as the model gave them
    status: str  # ok | error | timeout | refused | bad_arguments
    latency_ms: float
    detail: str


class CallDetail(CallOut):
    turns: list[TurnOut]
    events: list[EventOut]
    tool_calls: list[ToolCallOut] = []
    # post-call analysis: {"status": "pending" | "done" | "failed", summary, disposition,
    # sentiment, fields | reason}; None: the agent has none (POST /calls/{id}/analysis)
    analysis: dict[str, Any] | None = None


class CallListed(CallOut):
    turn_count: int = 0
    voice_to_voice_p50_ms: float | None = Field(
        None, description="median over the agent's turns: first audio out after the caller stopped"
    )


class CallPage(BaseModel):
    total: int
    items: list[CallListed]


def router(store: Store, auth: Auth, recordings: Path) -> APIRouter:
    api = APIRouter(prefix="/calls", tags=["calls"], dependencies=[Depends(auth.viewer)])
    recordings = recordings.resolve()

    @api.get("", response_model=CallPage)
    def list_calls(
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        agent: Annotated[str | None, Query(max_length=64)] = None,
        direction: Literal["inbound", "outbound"] | None = None,
        end_reason: Annotated[str | None, Query(max_length=32)] = None,
        q: Annotated[str | None, Query(max_length=200, description="text in a turn")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> dict[str, Any]:
        total, items = store.list_calls(
            CallFilter(since, until, agent, direction, end_reason, q, limit, offset)
        )
        stats = turn_stats(store.engine, [item["id"] for item in items])
        for item in items:
            figures = stats.get(item["id"], TurnStats())
            item["turn_count"] = figures.turn_count
            item["voice_to_voice_p50_ms"] = figures.voice_to_voice_p50_ms
        return {"total": total, "items": items}

    @api.get("/{call_id}", response_model=CallDetail)
    def get_call(call_id: CallId) -> dict[str, Any]:
        call = store.get_call(call_id)
        if call is None:
            raise HTTPException(404, f"no call {call_id!r}")
        call["tool_calls"] = tool_calls_of(store.engine, call_id)
        return call

    @api.get(
        "/{call_id}/recording",
        response_class=FileResponse,
        responses={200: {"content": {"audio/wav": {}}}, 206: {"description": "a byte range"}},
    )
    def get_recording(call_id: CallId) -> FileResponse:
        call = store.get_call(call_id)
        if call is None:
            raise HTTPException(404, f"no call {call_id!r}")
        stored = call["recording_path"]
        path = Path(stored).resolve() if stored else None
        if path is None or not path.is_relative_to(recordings) or not path.is_file():
            raise HTTPException(404, "this call has no recording")
        return FileResponse(path, media_type="audio/wav", filename=f"{call_id}.wav")

    return api
