"""GET /v1/models, /healthz and /metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mediaserver.inference.engines import Engines

STARTED = int(time.time())


def router(engines: Engines) -> APIRouter:
    api = APIRouter()

    @api.get("/v1/models")
    async def models() -> dict[str, object]:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": STARTED, "owned_by": "mediaserver"}
                for name in (*engines.served, *engines.embedding_models())
            ],
        }

    @api.get("/healthz")
    async def healthz() -> JSONResponse:
        """200 while every speech model can take a request; 503 while one is
        saturated (a server should refuse new calls until it is not). A full
        embeddings queue costs calls their retrieval only: it is not counted."""
        saturated = [lane.name for lane in engines.speech_lanes if lane.saturated]
        waiting = {lane.name: lane.waiting for lane in engines.lanes}
        status = "saturated" if saturated else "ok"
        body = {"status": status, "saturated": saturated, "waiting": waiting}
        return JSONResponse(body, 503 if saturated else 200)

    @api.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(engines.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return api
