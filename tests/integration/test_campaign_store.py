"""The lead claim on SQLite and PostgreSQL (the store_url fixture): runners in
separate threads, each with its own engine, race for the same leads; every
lead is won exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

from mediaserver.campaigns import leads_csv
from mediaserver.campaigns.model import CampaignSpec
from mediaserver.store import Store
from mediaserver.store.campaigns import CampaignStore
from mediaserver.store.db import utcnow

LEADS = 60
RUNNERS = 4


def test_racing_runners_claim_each_lead_once(store_url: str) -> None:
    first = CampaignStore(Store.open(store_url))
    spec = CampaignSpec(name="race")
    campaign = first.create(spec.name, spec.model_dump())["id"]
    rows = "\n".join(f"+1415555{n:04d}" for n in range(LEADS))
    first.add_leads(campaign, leads_csv.parse(f"phone\n{rows}\n".encode(), "US").leads)
    _, leads = first.leads(campaign, limit=500)
    ids = [lead["id"] for lead in leads]
    won: dict[str, list[int]] = {}
    start = threading.Barrier(RUNNERS)

    def runner(name: str) -> None:
        store = CampaignStore(Store(store_url))
        start.wait()
        mine = won.setdefault(name, [])
        for lead_id in ids:
            if store.claim(lead_id, name, utcnow() + timedelta(seconds=15)) is not None:
                mine.append(lead_id)

    threads = [threading.Thread(target=runner, args=(f"r{n}",)) for n in range(RUNNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    claimed = sorted(lead for mine in won.values() for lead in mine)
    assert claimed == sorted(ids)  # each once, none lost
    _, calling = first.leads(campaign, "calling", limit=500)
    assert {lead["lease_owner"] for lead in calling} <= set(won)
    assert all(lead["attempts"] == 1 for lead in calling) and len(calling) == LEADS
