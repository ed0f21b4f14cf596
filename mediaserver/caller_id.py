"""The caller ID an outbound call presents: an E.164 number or a sip: URI,
sent as the From URI of its INVITE."""

from __future__ import annotations

import re

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# sip:[user@]host[:port][;params]; nothing a header could be broken out of
SIP_URI = re.compile(
    r"^sips?:(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+@)?"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::\d{1,5})?(?:;[A-Za-z0-9\-_.!~*'()%=]+)*$"
)
MAX_LENGTH = 64


def checked(value: str) -> str:
    """`value` if it is a caller ID ("" for none); ValueError saying why not."""
    if value == "":
        return value
    if len(value) > MAX_LENGTH:
        raise ValueError(f"caller_id: at most {MAX_LENGTH} characters")
    if E164.match(value) or SIP_URI.match(value):
        return value
    raise ValueError(
        f"caller_id {value!r} is neither an E.164 number (+ and 7 to 15 digits) nor a sip: URI"
    )


def from_uri(caller_id: str, host: str) -> str:
    """The From URI for `caller_id`: a sip: URI as it is, a number at `host`
    (the calling account's domain)."""
    if caller_id.startswith(("sip:", "sips:")):
        return caller_id
    return f"sip:{caller_id}@{host}"
