"""/metrics in Prometheus' text format (scrape it with an API key as bearer token)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mediaserver.api.auth import Auth
from mediaserver.metrics import Metrics


def router(metrics: Metrics, auth: Auth) -> APIRouter:
    api = APIRouter(tags=["metrics"])

    @api.get("/metrics", response_class=Response, dependencies=[Depends(auth.viewer)])
    def scrape() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return api
