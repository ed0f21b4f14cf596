"""WebRTC signaling for the softphone page: POST /webrtc/offer with a call token."""
# No "from __future__ import annotations": FastAPI must see the dependencies
# defined inside router() when it reads the endpoint signatures.

from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from mediaserver.agents import AgentBook
from mediaserver.api.auth import Auth, source_of
from mediaserver.api.guard import LARGE_BODY
from mediaserver.api.json_body import TextJsonRoute
from mediaserver.tokens import CallToken
from mediaserver.transports.call import CallHandle
from mediaserver.transports.webrtc import Busy, OfferError


class Phone(Protocol):
    """What answers offers: the WebRTC transport, or a cluster's workers."""

    def ice_servers(self) -> list[dict[str, Any]]: ...

    async def answer(
        self, sdp: str, kind: str, agent: str | None = None, remote: str = ""
    ) -> tuple[CallHandle, str]: ...


call_token = HTTPBearer(
    auto_error=False, scheme_name="CallToken", description="`mediaserver tokens create`"
)
AgentName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class Offer(BaseModel):
    sdp: str = Field(max_length=100_000)
    type: Literal["offer"]
    agent: AgentName = "default"


class Answer(BaseModel):
    sdp: str
    type: Literal["answer"]
    call_id: int


class PhoneConfig(BaseModel):
    ice_servers: list[dict[str, Any]]
    agents: list[str]


def router(webrtc: Phone, auth: Auth, book: AgentBook) -> APIRouter:
    api = APIRouter(prefix="/webrtc", tags=["webrtc"], route_class=TextJsonRoute)

    def claims(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(call_token)],
    ) -> CallToken:
        credential = credentials.credentials if credentials is not None else None
        return auth.call_token(credential, source_of(request))

    @api.get("/config", response_model=PhoneConfig)
    def phone_config(
        token: Annotated[CallToken, Depends(claims)],
    ) -> dict[str, Any]:
        """What the page needs before it calls: ICE servers, the agents it may call."""
        allowed = token.agent
        names = [allowed] if allowed else book.names()
        return {"ice_servers": webrtc.ice_servers(), "agents": names}

    @api.post(
        "/offer",
        response_model=Answer,
        responses={400: {"description": "a bad offer"}, 503: {"description": "no call slot"}},
        max_body_size=LARGE_BODY,
    )
    async def offer(offer: Offer, token: Annotated[CallToken, Depends(claims)]) -> dict[str, Any]:
        if token.agent is not None and token.agent != offer.agent:
            raise HTTPException(401, f"the call token is for agent {token.agent!r}")
        if await run_in_threadpool(book.get, offer.agent) is None:
            raise HTTPException(404, f"no agent {offer.agent!r}")
        try:
            call, sdp = await webrtc.answer(offer.sdp, offer.type, offer.agent)
        except OfferError as exc:
            raise HTTPException(400, str(exc)) from None
        except Busy as exc:
            raise HTTPException(503, str(exc)) from None
        return {"sdp": sdp, "type": "answer", "call_id": call.call_id}

    return api
