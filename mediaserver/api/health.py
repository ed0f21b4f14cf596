"""/healthz: the process serves requests. /readyz: it can take calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from mediaserver import __version__
from mediaserver.api.auth import Auth


def router(
    auth: Auth | None = None,
    checks: Callable[[], dict[str, bool]] | None = None,
    detail: Callable[[], dict[str, Any]] | None = None,
) -> APIRouter:
    """`checks`: what must all hold to take calls; `detail`: more state shown
    beside them (a cluster's workers one by one)."""
    api = APIRouter(tags=["health"])

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    if auth is not None and checks is not None:

        @api.get("/readyz", dependencies=[Depends(auth.viewer)])
        def readyz() -> JSONResponse:
            state = checks()
            ready = all(state.values())
            body: dict[str, Any] = {"ready": ready, "checks": state}
            if detail is not None:
                body.update(detail())
            return JSONResponse(body, status_code=200 if ready else 503)

    return api
