"""POST /tokens: a short-lived call token for the softphone page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from mediaserver.api.auth import Auth, CallTokens
from mediaserver.api.json_body import TextJsonRoute


class TokenRequest(BaseModel):
    agent: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] | None = None
    ttl_seconds: int | None = Field(None, ge=10, le=86400)


class TokenOut(BaseModel):
    token: str


def router(tokens: CallTokens, auth: Auth) -> APIRouter:
    api = APIRouter(tags=["tokens"], route_class=TextJsonRoute)

    @api.post("/tokens", response_model=TokenOut, dependencies=[Depends(auth.admin)])
    def create_token(request: TokenRequest) -> dict[str, str]:
        return {"token": tokens.issue(request.agent, request.ttl_seconds)}

    return api
