"""campaign.finished: a campaign runner's event written to the webhooks'
outbox (off the event loop), with the campaign's final lead counts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from mediaserver.campaigns.events import CampaignEvent, CampaignFinished
from mediaserver.store import Store
from mediaserver.store.campaigns import CampaignStore
from mediaserver.webhooks.outbox import Outbox

log = logging.getLogger(__name__)


def campaign_events(store: Store) -> Callable[[CampaignEvent], None]:
    """The runner's on_event: a finished campaign becomes a campaign.finished event."""
    outbox, campaigns = Outbox(store), CampaignStore(store)
    pending: set[asyncio.Task[None]] = set()

    def emit(finished: CampaignFinished) -> None:
        found = campaigns.get(finished.campaign_id)
        payload = {
            "campaign_id": finished.campaign_id,
            "name": finished.name,
            "leads": found["leads"] if found is not None else {},
        }
        outbox.emit("campaign.finished", payload, campaign=finished.name)

    async def write(finished: CampaignFinished) -> None:
        try:
            await asyncio.to_thread(emit, finished)
        except Exception:
            log.exception("campaign %d: campaign.finished not written", finished.campaign_id)

    def on_event(event: CampaignEvent) -> None:
        if isinstance(event, CampaignFinished):
            task = asyncio.get_running_loop().create_task(write(event))
            pending.add(task)
            task.add_done_callback(pending.discard)

    return on_event
