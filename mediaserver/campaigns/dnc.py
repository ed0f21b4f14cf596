"""The do-not-call list as outbound paths consult it: a number, or the user
part of a sip: URI, in E.164 form."""

from __future__ import annotations

from mediaserver.campaigns.model import e164
from mediaserver.store.campaigns import CampaignStore

# Where a national number without a campaign (POST /calls) is taken to be.
DEFAULT_COUNTRY = "US"


def number_of(to: str, country: str = DEFAULT_COUNTRY) -> str | None:
    """`to` (a number or a sip: URI) as an E.164 number; None if it names none."""
    if to.startswith(("sip:", "sips:")):
        to = to.split(":", 1)[1].split("@", 1)[0].split(";", 1)[0]
    try:
        return e164(to, country)
    except ValueError:
        return None


class DoNotCall:
    def __init__(self, store: CampaignStore, country: str = DEFAULT_COUNTRY) -> None:
        self.store = store
        self.country = country

    def blocks(self, to: str) -> bool:
        """Whether `to` is on the list (blocking: a store read)."""
        number = number_of(to, self.country)
        return number is not None and self.store.dnc_has(number)
