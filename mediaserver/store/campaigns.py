"""Campaigns, their leads and attempts, and the do-not-call list in the store.

A lead is dialled only once it is claimed: a conditional UPDATE from
`queued` to `calling` that one process alone can win (SQLite and PostgreSQL
alike), with a lease its runner renews while the call lasts. A lease that
runs out (its process died) is closed as an `unclean` attempt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mediaserver.store.db import Store
from mediaserver.store.rows import _utc, utcnow
from mediaserver.store.tables import campaign_attempts, campaign_leads, campaigns, do_not_call

ACTIVE = ("queued", "calling")


@dataclass(frozen=True, slots=True)
class Claim:
    """A lead this process holds: dial it, then finish it."""

    lead_id: int
    campaign_id: int
    attempt: int
    phone: str
    timezone: str
    variables: dict[str, str]


def _row(row: Any) -> dict[str, Any]:
    return {k: _utc(v) if isinstance(v, datetime) else v for k, v in row._mapping.items()}


class CampaignStore:
    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    # -- campaigns ------------------------------------------------------------
    def create(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        with self.engine.begin() as c:
            campaign_id = c.execute(
                campaigns.insert()
                .values(name=name, spec=spec, state="draft", created_at=now, updated_at=now)
                .returning(campaigns.c.id)
            ).scalar_one()
        found = self.get(int(campaign_id))
        assert found is not None
        return found

    def get(self, campaign_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(campaigns).where(campaigns.c.id == campaign_id)).first()
            return None if row is None else {**_row(row), "leads": self._counts(c, campaign_id)}

    def page(
        self, limit: int = 50, offset: int = 0, kind: str = "campaign"
    ) -> tuple[int, list[dict[str, Any]]]:
        """Campaigns of `kind` ("call": POST /calls jobs), the newest first."""
        mine = campaigns.c.kind == kind
        with self.engine.connect() as c:
            total = c.scalar(sa.select(sa.func.count()).select_from(campaigns).where(mine)) or 0
            rows = c.execute(
                sa.select(campaigns)
                .where(mine)
                .order_by(campaigns.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return total, [{**_row(r), "leads": self._counts(c, r.id)} for r in rows]

    def _counts(self, c: Connection, campaign_id: int) -> dict[str, int]:
        rows = c.execute(
            sa.select(campaign_leads.c.state, sa.func.count())
            .where(campaign_leads.c.campaign_id == campaign_id)
            .group_by(campaign_leads.c.state)
        )
        return {state: int(count) for state, count in rows}

    def move(self, campaign_id: int, allowed: set[str], to: str) -> bool:
        """Campaign state `allowed` -> `to`; False if it was in no allowed state.
        Stopping a campaign ends its queued leads (calls in flight finish)."""
        now = utcnow()
        with self.engine.begin() as c:
            moved = c.execute(
                campaigns.update()
                .where(campaigns.c.id == campaign_id, campaigns.c.state.in_(allowed))
                .values(state=to, updated_at=now, finished_at=now if to == "stopped" else None)
            ).rowcount
            if moved and to == "stopped":
                c.execute(
                    campaign_leads.update()
                    .where(
                        campaign_leads.c.campaign_id == campaign_id,
                        campaign_leads.c.state == "queued",
                    )
                    .values(state="stopped", updated_at=now)
                )
            return bool(moved)

    def running(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(  # the oldest first: POST /calls jobs wait their turn
                sa.select(campaigns).where(campaigns.c.state == "running").order_by(campaigns.c.id)
            )
            return [_row(r) for r in rows]

    def finish_done(self) -> list[dict[str, Any]]:
        """Every running campaign with no lead queued or calling is finished
        (one statement, however many are running); the id, name and kind of each."""
        now = utcnow()
        busy = (
            sa.select(campaign_leads.c.id)
            .where(
                campaign_leads.c.campaign_id == campaigns.c.id,
                campaign_leads.c.state.in_(ACTIVE),
            )
            .exists()
        )
        with self.engine.begin() as c:
            rows = c.execute(
                campaigns.update()
                .where(campaigns.c.state == "running", ~busy)
                .values(state="finished", updated_at=now, finished_at=now)
                .returning(campaigns.c.id, campaigns.c.name, campaigns.c.kind)
            )
            return [dict(r._mapping) for r in rows]

    # -- leads ----------------------------------------------------------------
    def add_leads(
        self, campaign_id: int, leads: list[Any], chunk: int = 500
    ) -> tuple[int, list[tuple[int, str]]]:
        """Insert `leads` (leads_csv.Lead) in one transaction; (how many were
        taken, (line, phone) of those the campaign already had)."""
        now = utcnow()
        taken, already = 0, []
        with self.engine.begin() as c:
            for start in range(0, len(leads), chunk):
                part = leads[start : start + chunk]
                known = set(
                    c.scalars(
                        sa.select(campaign_leads.c.phone).where(
                            campaign_leads.c.campaign_id == campaign_id,
                            campaign_leads.c.phone.in_([lead.phone for lead in part]),
                        )
                    )
                )
                new = [lead for lead in part if lead.phone not in known]
                already += [(lead.line, lead.phone) for lead in part if lead.phone in known]
                if new:
                    c.execute(
                        campaign_leads.insert(),
                        [
                            {
                                "campaign_id": campaign_id,
                                "line": lead.line,
                                "phone": lead.phone,
                                "name": lead.name,
                                "timezone": lead.timezone,
                                "variables": {"name": lead.name, **lead.variables},
                                "state": "queued",
                                "attempts": 0,
                                "updated_at": now,
                            }
                            for lead in new
                        ],
                    )
                taken += len(new)
        return taken, already

    def leads(
        self, campaign_id: int, state: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[int, list[dict[str, Any]]]:
        where = [campaign_leads.c.campaign_id == campaign_id]
        if state is not None:
            where.append(campaign_leads.c.state == state)
        with self.engine.connect() as c:
            total = c.scalar(sa.select(sa.func.count()).select_from(campaign_leads).where(*where))
            rows = c.execute(
                sa.select(campaign_leads)
                .where(*where)
                .order_by(campaign_leads.c.id)
                .limit(limit)
                .offset(offset)
            )
            return int(total or 0), [_row(r) for r in rows]

    def lead(self, campaign_id: int, lead_id: int) -> dict[str, Any] | None:
        """One lead with its attempts."""
        with self.engine.connect() as c:
            row = c.execute(
                sa.select(campaign_leads).where(
                    campaign_leads.c.id == lead_id, campaign_leads.c.campaign_id == campaign_id
                )
            ).first()
            if row is None:
                return None
            attempts = c.execute(
                sa.select(campaign_attempts)
                .where(campaign_attempts.c.lead_id == lead_id)
                .order_by(campaign_attempts.c.number)
            )
            return {**_row(row), "attempt_log": [_row(a) for a in attempts]}

    def due(self, campaign_id: int, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Queued leads whose time has come, the longest waiting first."""
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(campaign_leads.c.id, campaign_leads.c.phone, campaign_leads.c.timezone)
                .where(
                    campaign_leads.c.campaign_id == campaign_id,
                    campaign_leads.c.state == "queued",
                    sa.or_(campaign_leads.c.next_at.is_(None), campaign_leads.c.next_at <= now),
                )
                .order_by(
                    campaign_leads.c.next_at.is_not(None),
                    campaign_leads.c.next_at,
                    campaign_leads.c.id,
                )
                .limit(limit)
            )
            return [_row(r) for r in rows]

    def settle(self, lead_id: int, state: str) -> bool:
        """A queued lead ends in `state` without a call (e.g. dnc)."""
        with self.engine.begin() as c:
            return bool(
                c.execute(
                    campaign_leads.update()
                    .where(campaign_leads.c.id == lead_id, campaign_leads.c.state == "queued")
                    .values(state=state, outcome=state, updated_at=utcnow())
                ).rowcount
            )

    def defer(self, lead_id: int, until: datetime) -> None:
        """A queued lead waits (its calling window is closed) until `until`."""
        with self.engine.begin() as c:
            c.execute(
                campaign_leads.update()
                .where(campaign_leads.c.id == lead_id, campaign_leads.c.state == "queued")
                .values(next_at=until)
            )

    def claim(self, lead_id: int, owner: str, lease_until: datetime) -> Claim | None:
        """Take a queued lead for one attempt; None if another process (or
        a stop) got there first."""
        now = utcnow()
        with self.engine.begin() as c:
            won = c.execute(
                campaign_leads.update()
                .where(campaign_leads.c.id == lead_id, campaign_leads.c.state == "queued")
                .values(
                    state="calling",
                    attempts=campaign_leads.c.attempts + 1,
                    lease_owner=owner,
                    lease_until=lease_until,
                    updated_at=now,
                )
            ).rowcount
            if not won:
                return None
            row = c.execute(sa.select(campaign_leads).where(campaign_leads.c.id == lead_id)).one()
            c.execute(
                campaign_attempts.insert().values(
                    lead_id=lead_id, number=row.attempts, started_at=now
                )
            )
            return Claim(
                lead_id, row.campaign_id, row.attempts, row.phone, row.timezone, row.variables
            )

    def renew(self, owner: str, lead_ids: list[int], lease_until: datetime) -> None:
        if not lead_ids:
            return
        with self.engine.begin() as c:
            c.execute(
                campaign_leads.update()
                .where(
                    campaign_leads.c.id.in_(lead_ids),
                    campaign_leads.c.state == "calling",
                    campaign_leads.c.lease_owner == owner,
                )
                .values(lease_until=lease_until)
            )

    def finish(
        self,
        claim: Claim,
        owner: str,
        *,
        outcome: str,
        sip_code: int | None,
        call_id: str | None,
        state: str,
        next_at: datetime | None = None,
        amd: dict[str, Any] | None = None,
    ) -> bool:
        """Close the claimed attempt; the lead goes to `state` (queued: again
        at `next_at`; stopped instead if its campaign was stopped meanwhile).
        False if the lease was lost meanwhile."""
        now = utcnow()
        with self.engine.begin() as c:
            if state == "queued" and c.scalar(
                sa.select(campaigns.c.state).where(campaigns.c.id == claim.campaign_id)
            ) in ("stopped", "finished"):
                state, next_at = "stopped", None
            done = c.execute(
                campaign_leads.update()
                .where(
                    campaign_leads.c.id == claim.lead_id,
                    campaign_leads.c.state == "calling",
                    campaign_leads.c.lease_owner == owner,
                )
                .values(
                    state=state,
                    next_at=next_at,
                    lease_owner=None,
                    lease_until=None,
                    outcome=outcome,
                    sip_code=sip_code,
                    call_id=call_id or None,
                    updated_at=now,
                )
            ).rowcount
            c.execute(
                campaign_attempts.update()
                .where(
                    campaign_attempts.c.lead_id == claim.lead_id,
                    campaign_attempts.c.number == claim.attempt,
                    campaign_attempts.c.ended_at.is_(None),
                )
                .values(
                    ended_at=now,
                    outcome=outcome,
                    sip_code=sip_code,
                    call_id=call_id or None,
                    amd=amd,
                )
            )
            return bool(done)

    def expired(self, now: datetime) -> list[tuple[Claim, str]]:
        """Leads whose lease ran out mid-attempt (their process died), with its owner."""
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(campaign_leads).where(
                    campaign_leads.c.state == "calling", campaign_leads.c.lease_until < now
                )
            )
            return [
                (
                    Claim(r.id, r.campaign_id, r.attempts, r.phone, r.timezone, r.variables),
                    str(r.lease_owner),
                )
                for r in rows
            ]

    # -- do not call ----------------------------------------------------------
    def dnc_add(self, phones: list[str], note: str = "") -> int:
        """Add E.164 numbers; how many were new."""
        now = utcnow()
        with self.engine.begin() as c:
            known = set(
                c.scalars(sa.select(do_not_call.c.phone).where(do_not_call.c.phone.in_(phones)))
            )
            new = sorted(set(phones) - known)
            if new:
                c.execute(
                    do_not_call.insert(),
                    [{"phone": p, "note": note, "created_at": now} for p in new],
                )
            return len(new)

    def dnc_remove(self, phone: str) -> bool:
        with self.engine.begin() as c:
            return bool(
                c.execute(do_not_call.delete().where(do_not_call.c.phone == phone)).rowcount
            )

    def dnc_has(self, phone: str) -> bool:
        with self.engine.connect() as c:
            found = c.scalar(sa.select(do_not_call.c.phone).where(do_not_call.c.phone == phone))
            return found is not None

    def dnc_list(self, limit: int = 100, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        with self.engine.connect() as c:
            total = c.scalar(sa.select(sa.func.count()).select_from(do_not_call)) or 0
            rows = c.execute(
                sa.select(do_not_call).order_by(do_not_call.c.phone).limit(limit).offset(offset)
            )
            return int(total), [_row(r) for r in rows]
