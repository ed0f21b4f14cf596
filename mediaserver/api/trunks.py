"""GET /trunks: each registration trunk's state, as the registrar last said it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from mediaserver.api.auth import Auth
from mediaserver.transports.sip import SipServer


class TrunkOut(BaseModel):
    name: str
    registered: bool
    code: int
    reason: str
    expires: int
    at: float


def router(sip: SipServer, auth: Auth) -> APIRouter:
    api = APIRouter(tags=["trunks"])

    @api.get("/trunks", response_model=list[TrunkOut], dependencies=[Depends(auth.viewer)])
    def list_trunks() -> list[dict[str, Any]]:
        return [
            {"name": name, **{k: getattr(t, k) for k in TrunkOut.model_fields if k != "name"}}
            for name, t in sip.trunks.items()
        ]

    return api
