"""POST /calls queues an outbound call as a one-lead campaign in the store
(campaigns/one_call.py): the campaign runner dials it, with retries, and a
restart loses nothing. GET /outbound and /outbound/{id} read the jobs back."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import SQLAlchemyError

from mediaserver.amd.policy import AmdPolicy, AmdPolicyError
from mediaserver.api.auth import Auth
from mediaserver.api.json_body import TextJsonRoute
from mediaserver.caller_id import MAX_LENGTH, checked
from mediaserver.campaigns.one_call import call_spec, job_view
from mediaserver.dialer import Dialer, DialError
from mediaserver.store.call_jobs import CallJobs

MAX_TARGET = 320  # characters of the SIP URI dialled (campaign_leads.phone)
Variables = dict[str, Annotated[str, Field(max_length=200)]]


class AmdIn(BaseModel):
    """Answering-machine detection: hold the greeting until human / machine /
    unknown is decided; on a machine leave the message (after the beep or the
    end of its greeting) or hang up."""

    enabled: bool = True
    on_machine: Literal["message", "hangup"] = "hangup"
    voicemail_message: str = Field("", max_length=1000, description="{name}: a variable")
    variables: Variables = Field(default_factory=dict, max_length=32)

    def policy(self) -> AmdPolicy | None:
        if not self.enabled:
            return None
        try:
            return AmdPolicy.of(self.on_machine, self.voicemail_message, self.variables)
        except AmdPolicyError as exc:
            raise HTTPException(422, f"amd: {exc}") from None


class CallRequest(BaseModel):
    to: str = Field(min_length=3, max_length=256, description="a number or a sip: URI")
    agent: str = Field("default", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    trunk: str = Field("default", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    amd: AmdIn | None = None
    variables: Variables = Field(
        default_factory=dict,
        max_length=32,
        description="{name}s of the greeting and prompt",
    )
    caller_id: str = Field(
        "", max_length=MAX_LENGTH, description="the INVITE's From: E.164 or a sip: URI"
    )

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, value: str) -> str:
        return checked(value)


class JobOut(BaseModel):
    id: int
    to: str
    agent: str
    trunk: str
    state: str
    outcome: str | None
    sip_code: int | None
    attempts: int
    call_ids: list[str]
    created_at: datetime
    caller_id: str = ""
    amd_policy: dict[str, Any] | None = None
    amd: dict[str, Any] | None = Field(
        None, description="the last answer's verdict: verdict, at_s, reason, beep, carrier"
    )


def router(
    dialer: Dialer, jobs: CallJobs, auth: Auth, wake: Callable[[], None] = lambda: None
) -> APIRouter:
    """`wake`: the campaign runner's, so a new job is dialled at once."""
    api = APIRouter(tags=["outbound"], route_class=TextJsonRoute)
    rules = dialer.rules

    def waiting() -> float:
        """The jobs waiting to be dialled, read from the store at each scrape."""
        try:
            return float(jobs.waiting())
        except SQLAlchemyError:
            return math.nan

    dialer.metrics.outbound_queue.set_function(waiting)

    def add(request: CallRequest, amd: AmdPolicy | None) -> dict[str, Any]:
        target = dialer.target(request.to, request.trunk)
        if len(target) > MAX_TARGET:
            raise DialError(f"the SIP URI to call is over {MAX_TARGET} characters")
        if not target.isprintable() or any(ch.isspace() for ch in target):
            raise DialError("the SIP URI to call has spaces or control characters")
        if jobs.waiting() >= rules.queue_limit:
            raise DialError(f"the outbound queue is full ({rules.queue_limit} calls)")
        variables = {**request.variables, **(dict(amd.variables) if amd is not None else {})}
        spec = call_spec(request.agent, request.trunk, amd, rules, request.caller_id)
        job_id = jobs.add(spec.model_dump(), target, variables)
        found = jobs.get(job_id)
        assert found is not None  # written just now, in this process
        return job_view(found)

    @api.post("/calls", response_model=JobOut, status_code=202, dependencies=[Depends(auth.admin)])
    async def place_call(request: CallRequest) -> dict[str, Any]:
        """Queue an outbound call (kept in the store: a restart loses nothing);
        follow it at /outbound/{id}."""
        amd = request.amd.policy() if request.amd is not None else None
        try:
            job = await run_in_threadpool(add, request, amd)
        except DialError as exc:
            raise HTTPException(422, str(exc)) from None
        wake()
        return job

    @api.get("/outbound", response_model=list[JobOut], dependencies=[Depends(auth.viewer)])
    def list_jobs(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        """The newest jobs first."""
        return [job_view(row) for row in jobs.recent(limit)]

    @api.get("/outbound/{job_id}", response_model=JobOut, dependencies=[Depends(auth.viewer)])
    def get_job(job_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)]) -> dict[str, Any]:
        found = jobs.get(job_id)
        if found is None:
            raise HTTPException(404, f"no outbound job {job_id}")
        return job_view(found)

    return api
