"""POST /calls jobs in the store: each is a one-lead campaign of kind "call",
running from the moment it is written, so the campaign runner dials it (and
goes on after a restart). A job's id is its campaign's."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mediaserver.store.db import Store
from mediaserver.store.rows import _utc, utcnow
from mediaserver.store.tables import campaign_attempts, campaign_leads, campaigns

CALL = "call"  # campaigns.kind of a POST /calls job

_JOB = (
    sa.select(
        campaigns.c.id,
        campaigns.c.spec,
        campaigns.c.created_at,
        campaign_leads.c.id.label("lead_id"),
        campaign_leads.c.phone,
        campaign_leads.c.variables,
        campaign_leads.c.state,
        campaign_leads.c.attempts,
        campaign_leads.c.outcome,
        campaign_leads.c.sip_code,
    )
    .join(campaign_leads, campaign_leads.c.campaign_id == campaigns.c.id)
    .where(campaigns.c.kind == CALL)
)


class CallJobs:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def add(self, spec: dict[str, Any], target: str, variables: dict[str, str]) -> int:
        """A running one-lead campaign that calls `target`; its id."""
        now = utcnow()
        with self.engine.begin() as c:
            job_id = c.execute(
                campaigns.insert()
                .values(
                    name=spec["name"],
                    spec=spec,
                    state="running",
                    kind=CALL,
                    created_at=now,
                    updated_at=now,
                )
                .returning(campaigns.c.id)
            ).scalar_one()
            c.execute(
                campaign_leads.insert().values(
                    campaign_id=job_id,
                    line=1,
                    phone=target,
                    name="",
                    timezone="",
                    variables=variables,
                    state="queued",
                    attempts=0,
                    updated_at=now,
                )
            )
        return int(job_id)

    def waiting(self) -> int:
        """Jobs not yet dialled or waiting for a retry."""
        with self.engine.connect() as c:
            count = c.scalar(
                sa.select(sa.func.count())
                .select_from(campaign_leads.join(campaigns))
                .where(campaigns.c.kind == CALL, campaign_leads.c.state == "queued")
            )
            return int(count or 0)

    def get(self, job_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(_JOB.where(campaigns.c.id == job_id)).first()
            return None if row is None else self._with_attempts(c, [row])[0]

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest jobs first."""
        with self.engine.connect() as c:
            rows = c.execute(_JOB.order_by(campaigns.c.id.desc()).limit(limit)).all()
            return self._with_attempts(c, rows)

    def _with_attempts(self, c: Connection, rows: Any) -> list[dict[str, Any]]:
        """Each job's row with its attempts (call_id, amd), in order."""
        jobs = [{**row._mapping, "created_at": _utc(row.created_at)} for row in rows]
        tried: dict[int, list[dict[str, Any]]] = {job["lead_id"]: [] for job in jobs}
        attempts = campaign_attempts.c
        if tried:
            for attempt in c.execute(
                sa.select(attempts.lead_id, attempts.call_id, attempts.amd)
                .where(attempts.lead_id.in_(list(tried)))
                .order_by(attempts.lead_id, attempts.number)
            ):
                tried[attempt.lead_id].append(dict(attempt._mapping))
        for job in jobs:
            job["attempt_log"] = tried[job["lead_id"]]
        return jobs
