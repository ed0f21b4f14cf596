"""POST /calls places an outbound call through the dialer's queue; GET /outbound/{id}."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, field_validator

from mediaserver.amd.policy import AmdPolicy, AmdPolicyError
from mediaserver.api.auth import Auth
from mediaserver.api.json_body import TextJsonRoute
from mediaserver.caller_id import MAX_LENGTH, checked
from mediaserver.dialer import Dialer, DialError


class AmdIn(BaseModel):
    """Answering-machine detection: hold the greeting until human / machine /
    unknown is decided; on a machine leave the message (after the beep or the
    end of its greeting) or hang up."""

    enabled: bool = True
    on_machine: Literal["message", "hangup"] = "hangup"
    voicemail_message: str = Field("", max_length=1000, description="{name}: a variable")
    variables: dict[str, Annotated[str, Field(max_length=200)]] = Field(
        default_factory=dict, max_length=32
    )

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


def router(dialer: Dialer, auth: Auth) -> APIRouter:
    api = APIRouter(tags=["outbound"], route_class=TextJsonRoute)

    @api.post("/calls", response_model=JobOut, status_code=202, dependencies=[Depends(auth.admin)])
    async def place_call(request: CallRequest) -> dict[str, Any]:
        """Queue an outbound call; follow it at /outbound/{id}."""
        amd = request.amd.policy() if request.amd is not None else None
        try:
            return dialer.submit(
                request.to, request.agent, request.trunk, amd, request.caller_id
            ).as_dict()
        except DialError as exc:
            raise HTTPException(422, str(exc)) from None

    @api.get("/outbound", response_model=list[JobOut], dependencies=[Depends(auth.viewer)])
    async def list_jobs() -> list[dict[str, Any]]:
        return [job.as_dict() for job in reversed(dialer.jobs.values())]

    @api.get("/outbound/{job_id}", response_model=JobOut, dependencies=[Depends(auth.viewer)])
    async def get_job(job_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)]) -> dict[str, Any]:
        job = dialer.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no outbound job {job_id}")
        return job.as_dict()

    return api
