"""Webhooks and their outbox in the store. An event is written as one
delivery row per webhook that wants it, in one transaction (with the call's
own write when the caller passes its connection), so a restart loses none;
the delivery worker then sends each row until it is delivered or failed."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mediaserver.store.rows import _row, utcnow
from mediaserver.store.tables import webhook_deliveries, webhooks
from mediaserver.store.text import fit

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class Due:
    """One delivery to try now."""

    id: int
    event_id: str
    url: str
    secret: str
    body: str
    attempts: int  # made so far


def event_body(event_id: str, event_type: str, data: dict[str, Any], at: datetime) -> str:
    envelope = {"id": event_id, "type": event_type, "created_at": at.isoformat(), "data": data}
    return json.dumps(envelope, default=_json_value, separators=(",", ":"))


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


class OutboxStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- webhooks -------------------------------------------------------------
    def create_webhook(
        self, url: str, events: list[str], secret: str, agent: str | None, campaign: str | None
    ) -> dict[str, Any]:
        row = {
            "id": secrets.token_hex(8),
            "url": url,
            "events": sorted(set(events)),
            "agent": agent,
            "campaign": campaign,
            "secret": secret,
            "created_at": utcnow(),
        }
        with self.engine.begin() as c:
            c.execute(webhooks.insert().values(row))
        return row

    def list_webhooks(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            query = sa.select(webhooks).order_by(webhooks.c.created_at, webhooks.c.id)
            return [_row(r) for r in c.execute(query)]

    def get_webhook(self, webhook_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(webhooks).where(webhooks.c.id == webhook_id)).first()
        return None if row is None else _row(row)

    def delete_webhook(self, webhook_id: str) -> bool:
        with self.engine.begin() as c:
            c.execute(
                webhook_deliveries.delete().where(webhook_deliveries.c.webhook_id == webhook_id)
            )
            return bool(c.execute(webhooks.delete().where(webhooks.c.id == webhook_id)).rowcount)

    # -- the outbox -----------------------------------------------------------
    def enqueue(
        self,
        c: Connection,
        event_type: str,
        data: dict[str, Any],
        *,
        agent: str | None = None,
        campaign: str | None = None,
    ) -> str:
        """Write the event for every webhook that wants it, on connection `c`
        (inside the caller's transaction); its event id."""
        event_id = str(uuid.uuid4())
        now = utcnow()
        rows = []
        for hook in c.execute(sa.select(webhooks)):
            if event_type not in hook.events:
                continue
            if hook.agent is not None and hook.agent != agent:
                continue
            if hook.campaign is not None and hook.campaign != campaign:
                continue
            rows.append(
                {
                    "webhook_id": hook.id,
                    "event_id": event_id,
                    "event_type": event_type,
                    "body": event_body(event_id, event_type, data, now),
                    "state": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
        if rows:
            c.execute(webhook_deliveries.insert(), rows)
        return event_id

    def due(self, now: datetime, limit: int = 50) -> list[Due]:
        """Pending deliveries whose time has come, oldest first."""
        d = webhook_deliveries
        query = (
            sa.select(
                d.c.id, d.c.event_id, d.c.body, d.c.attempts, webhooks.c.url, webhooks.c.secret
            )
            .join(webhooks, webhooks.c.id == d.c.webhook_id)
            .where(d.c.state == PENDING, d.c.next_attempt_at <= now)
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(limit)
        )
        with self.engine.connect() as c:
            return [
                Due(r.id, r.event_id, r.url, r.secret, r.body, r.attempts) for r in c.execute(query)
            ]

    def attempted(
        self,
        delivery_id: int,
        *,
        at: datetime,
        status: int | None,
        error: str | None,
        retry_in: float | None,
    ) -> None:
        """Record one attempt: delivered (no error), retried in `retry_in`
        seconds, or failed for good (retry_in None)."""
        values: dict[str, Any] = {
            "attempts": webhook_deliveries.c.attempts + 1,
            "last_status": status,
            "last_error": error,
        }
        if error is None:
            values.update(state=DELIVERED, delivered_at=at)
        elif retry_in is None:
            values.update(state=FAILED)
        else:
            values.update(next_attempt_at=at + timedelta(seconds=retry_in))
        values = {**values, **fit(webhook_deliveries, last_error=error)}
        with self.engine.begin() as c:
            c.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.id == delivery_id)
                .values(values)
            )

    def deliveries(self, webhook_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The webhook's delivery log, newest first."""
        d = webhook_deliveries
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(d)
                .where(d.c.webhook_id == webhook_id)
                .order_by(d.c.id.desc())
                .limit(limit)
            )
            return [_row(r, drop=("body",)) for r in rows]
