"""What voicemail greetings and carriers' announcements say, and people don't."""

from __future__ import annotations

import re

MACHINE_PHRASES = (
    "leave a message",
    "please leave",
    "leave your message",
    "leave me a message",
    "leave a brief message",
    "leave your name",
    "record your message",
    "after the tone",
    "after the beep",
    "at the tone",
    "at the beep",
    "not available",
    "unavailable",
    "can't take your call",
    "cannot take your call",
    "can't come to the phone",
    "cannot come to the phone",
    "can't answer",
    "get back to you",
    "call you back",
    "voicemail",
    "voice mail",
    "mailbox",
    "you have reached",
    "you've reached",
    "away from",
)
CARRIER_PHRASES = (
    "the number you",
    "your call cannot",
    "your call could not",
    "the number you have called",
    "the number you have dialed",
    "the number you dialed",
    "the number you called",
    "not in service",
    "no longer in service",
    "has been disconnected",
    "is not reachable",
    "please check the number",
    "cannot be completed",
    "could not be completed",
    "please try again later",
)


def _normal(text: str) -> str:
    text = text.lower().replace("\u2019", "'")  # a typographic apostrophe
    return " ".join(re.findall(r"[a-z0-9']+", text))


def says_carrier(text: str) -> bool:
    """The words of a network's announcement ("the number you have called...")."""
    said = _normal(text)
    return any(phrase in said for phrase in CARRIER_PHRASES)


def says_machine(text: str) -> bool:
    """The words of a voicemail greeting or a carrier's announcement."""
    said = _normal(text)
    return says_carrier(text) or any(phrase in said for phrase in MACHINE_PHRASES)
