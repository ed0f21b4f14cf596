"""What a campaign tells the rest of the server (webhooks, metrics): typed,
frozen, handed to the runner's `on_event` callback on the event loop. The
callback must not block; post-call analysis / webhooks plug in here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AttemptEnded:
    """One call to a lead is over and its outcome known."""

    campaign_id: int
    lead_id: int
    phone: str
    attempt: int
    outcome: str  # answered | voicemail | busy | no_answer | rejected | failed | unclean
    sip_code: int | None
    call_id: str | None  # the call record (GET /calls/{id}); None if no call was placed
    state: str  # the lead's state after it: queued (a retry comes) or final


@dataclass(frozen=True, slots=True)
class LeadSkipped:
    """A lead ended without a call (on the do-not-call list)."""

    campaign_id: int
    lead_id: int
    phone: str
    state: str


@dataclass(frozen=True, slots=True)
class CampaignFinished:
    """Every lead of a running campaign reached a final state."""

    campaign_id: int
    name: str


CampaignEvent = AttemptEnded | LeadSkipped | CampaignFinished
