"""A campaign as the API takes it (POST /campaigns) and the store keeps it."""

from __future__ import annotations

import logging
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mediaserver import caller_id

log = logging.getLogger(__name__)

NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CLOCK = re.compile(r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")  # 24:00: the end of the day

# A lead's states: queued and calling are on the way; the rest are final.
QUEUED, CALLING = "queued", "calling"
FINAL = ("answered", "voicemail", "busy", "no_answer", "rejected", "failed", "dnc", "stopped")
STATES = (QUEUED, CALLING, *FINAL)
# What each campaign state allows next (POST /campaigns/{id}/start|pause|resume|stop).
MOVES = {
    "start": ({"draft"}, "running"),
    "pause": ({"running"}, "paused"),
    "resume": ({"paused"}, "running"),
    "stop": ({"draft", "running", "paused"}, "stopped"),
}


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name)") from None


class Schedule(BaseModel):
    """When leads may be called, in each lead's local time."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    days: list[Day] = Field(default_factory=lambda: list[Day](("mon", "tue", "wed", "thu", "fri")))
    start: str = "09:00"  # local time, HH:MM
    end: str = "18:00"  # exclusive; "24:00": to midnight

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not CLOCK.match(value):
            raise ValueError(f"expected HH:MM (24-hour), not {value!r}")
        return value

    @model_validator(mode="after")
    def _window(self) -> Schedule:
        if not self.days:
            raise ValueError("days: at least one day")
        if self.start == "24:00":
            raise ValueError("start: expected HH:MM before 24:00")
        if self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


class RetrySeconds(BaseModel):
    """How long after each outcome a lead is called again; null: never again."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    busy: int | None = Field(default=600, ge=1, le=7 * 86400)
    no_answer: int | None = Field(default=1800, ge=1, le=7 * 86400)
    voicemail: int | None = Field(default=3600, ge=1, le=7 * 86400)
    failed: int | None = Field(
        default=900, ge=1, le=7 * 86400
    )  # also an attempt cut short (unclean), unless `unclean` says otherwise
    # an attempt cut short by a stop or a crash (or still waiting for a worker
    # then); null: as `failed`
    unclean: int | None = Field(default=None, ge=1, le=7 * 86400)


class CampaignSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=128)
    agent: str = Field(default="default", pattern=NAME)
    trunk: str = Field(default="default", pattern=NAME)
    caller_id: str = Field(default="", max_length=64, description="E.164 or a sip: URI")
    country: str = Field(default="US", description="region of national numbers (ISO 3166 alpha-2)")
    timezone: str = Field(default="UTC", description="IANA zone of leads that name none")
    schedule: Schedule = Schedule()
    max_concurrent: int = Field(default=2, ge=1, le=100)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_seconds: RetrySeconds = RetrySeconds()
    ring_seconds: float = Field(default=30.0, ge=1.0, le=120.0)
    voicemail: Literal["hang_up", "leave_message"] = "hang_up"
    voicemail_message: str = Field(default="", max_length=2000)
    amd: bool = Field(default=True, description="answering-machine detection on every call")

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown country {value!r} (expected e.g. US, GB, DE)")
        return value

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, value: str) -> str:
        return caller_id.checked(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _voicemail(self) -> CampaignSpec:
        if self.voicemail == "leave_message" and not self.voicemail_message.strip():
            raise ValueError("voicemail leave_message needs a voicemail_message")
        return self

    def retry_after(self, outcome: str) -> int | None:
        """Seconds until the next attempt after `outcome`; None: final."""
        delays = self.retry_seconds
        return {
            "busy": delays.busy,
            "no_answer": delays.no_answer,
            "voicemail": delays.voicemail if self.voicemail == "hang_up" else None,
            "failed": delays.failed,
            "unclean": delays.failed if delays.unclean is None else delays.unclean,
        }.get(outcome)


def outcome_state(outcome: str) -> str:
    """A dial outcome (Calls.dial, or answering-machine detection's) as a lead state."""
    outcome = outcome.replace(" ", "_")
    if outcome in ("answered", "human"):
        return "answered"
    if outcome == "machine":
        return "voicemail"
    if outcome == "unclean":
        return "failed"
    return outcome if outcome in FINAL else "failed"


def e164(number: str, country: str) -> str:
    """`number` (E.164, or national in `country`) as E.164; ValueError if it is none."""
    text = number.strip()
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else country)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{number!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{number!r} is not a valid number for {country}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def stored_spec(campaign_id: int, data: dict[str, Any]) -> CampaignSpec:
    """A campaign's spec as the store keeps it. One saved before the caller ID
    check existed may hold one it refuses: read without it (the INVITE goes
    from the default) rather than stop every tick of the runner."""
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        if not all(error["loc"] == ("caller_id",) for error in exc.errors()):
            raise
        log.warning(
            "campaign %d: stored caller_id %r is not E.164 or a sip: URI; calling without it",
            campaign_id,
            data.get("caller_id"),
        )
        return CampaignSpec.model_validate({**data, "caller_id": ""})
