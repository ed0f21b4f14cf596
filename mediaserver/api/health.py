"""/healthz: the process serves requests. /readyz: it can take calls."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from mediaserver import __version__
from mediaserver.api.auth import Auth


def router(
    auth: Auth | None = None, checks: Callable[[], dict[str, bool]] | None = None
) -> APIRouter:
    api = APIRouter(tags=["health"])

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    if auth is not None and checks is not None:

        @api.get("/readyz", dependencies=[Depends(auth.viewer)])
        def readyz() -> JSONResponse:
            state = checks()
            ready = all(state.values())
            return JSONResponse(
                {"ready": ready, "checks": state}, status_code=200 if ready else 503
            )

    return api
