"""/webhooks: where events are sent (per agent or campaign, or all), and each
one's delivery log. The signing secret is shown once, when it is created."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mediaserver.api.auth import Auth
from mediaserver.netguard import NetGuard, Refused
from mediaserver.store.outbox import OutboxStore
from mediaserver.webhooks.outbox import EventType
from mediaserver.webhooks.signing import new_secret

WebhookId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{16}$")]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2048)
    events: list[EventType] = Field(min_length=1, max_length=10)
    agent: Name | None = None  # only this agent's events
    campaign: Name | None = None  # only this campaign's events

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    agent: str | None
    campaign: str | None
    created_at: datetime


class CreatedWebhook(WebhookOut):
    secret: str = Field(description="signs every delivery; shown this once")


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    event_type: str
    state: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def router(rows: OutboxStore, guard: NetGuard, auth: Auth) -> APIRouter:
    api = APIRouter(prefix="/webhooks", tags=["webhooks"])

    def found(webhook_id: str) -> dict[str, Any]:
        row = rows.get_webhook(webhook_id)
        if row is None:
            raise HTTPException(404, f"no webhook {webhook_id!r}")
        return row

    @api.post(
        "", response_model=CreatedWebhook, status_code=201, dependencies=[Depends(auth.admin)]
    )
    def create_webhook(hook: NewWebhook) -> dict[str, Any]:
        try:
            guard.check(hook.url)
        except Refused as exc:
            raise HTTPException(422, f"url: {exc}") from None
        return rows.create_webhook(
            hook.url, list(hook.events), new_secret(), hook.agent, hook.campaign
        )

    @api.get("", response_model=list[WebhookOut], dependencies=[Depends(auth.viewer)])
    def list_webhooks() -> list[dict[str, Any]]:
        return rows.list_webhooks()

    @api.get("/{webhook_id}", response_model=WebhookOut, dependencies=[Depends(auth.viewer)])
    def get_webhook(webhook_id: WebhookId) -> dict[str, Any]:
        return found(webhook_id)

    @api.delete("/{webhook_id}", status_code=204, dependencies=[Depends(auth.admin)])
    def delete_webhook(webhook_id: WebhookId) -> Response:
        if not rows.delete_webhook(webhook_id):
            raise HTTPException(404, f"no webhook {webhook_id!r}")
        return Response(status_code=204)

    @api.get(
        "/{webhook_id}/deliveries",
        response_model=list[DeliveryOut],
        dependencies=[Depends(auth.viewer)],
    )
    def deliveries(
        webhook_id: WebhookId, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        found(webhook_id)
        return rows.deliveries(webhook_id, limit)

    return api
