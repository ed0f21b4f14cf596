"""GET /trunks: each registration trunk's state, as the registrar last said it
(one process: its own registrations; a cluster: the SIP edge's, edge_trunks.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from mediaserver.api.auth import Auth
from mediaserver.transports.sip import TrunkStatus


class TrunkOut(BaseModel):
    name: str
    registered: bool
    code: int
    reason: str
    expires: int
    at: float


def router(states: Callable[[], Mapping[str, TrunkStatus]], auth: Auth) -> APIRouter:
    api = APIRouter(tags=["trunks"])

    @api.get("/trunks", response_model=list[TrunkOut], dependencies=[Depends(auth.viewer)])
    def list_trunks() -> list[dict[str, Any]]:
        return [
            {"name": name, **{k: getattr(t, k) for k in TrunkOut.model_fields if k != "name"}}
            for name, t in states().items()
        ]

    return api
