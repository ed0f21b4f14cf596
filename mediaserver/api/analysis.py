"""POST /calls/{id}/analysis: analyse an ended call (again); the result is
stored on the call (GET /calls/{id}: `analysis`) and sent as call.analyzed
(or as call.ended, if its first analysis had not finished)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel

from mediaserver.analysis.spec import for_call
from mediaserver.api.auth import Auth
from mediaserver.store import Store
from mediaserver.store.analysis import PENDING, set_analysis

CallId = Annotated[str, PathParam(max_length=36)]


class AnalysisQueued(BaseModel):
    status: str


def router(store: Store, auth: Auth, submit: Callable[[str], None]) -> APIRouter:
    api = APIRouter(prefix="/calls", tags=["calls"])

    @api.post(
        "/{call_id}/analysis",
        response_model=AnalysisQueued,
        status_code=202,
        dependencies=[Depends(auth.admin)],
    )
    def analyse(call_id: CallId) -> dict[str, str]:
        call = store.get_call(call_id)
        if call is None:
            raise HTTPException(404, f"no call {call_id!r}")
        if call["ended_at"] is None:
            raise HTTPException(409, "the call has not ended")
        if for_call(store, call) is None:
            raise HTTPException(
                409, f"agent {call['agent']!r} (version {call['agent_version']}) has no analysis"
            )
        previous = call.get("analysis") or {}
        first_pending = previous.get("status") == PENDING and previous.get("then") == "call.ended"
        then = "call.ended" if first_pending else "call.analyzed"
        set_analysis(store.engine, call_id, {"status": PENDING, "then": then})
        submit(call_id)
        return {"status": PENDING}

    return api
