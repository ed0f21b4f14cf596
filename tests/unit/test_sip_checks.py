"""The SIP checks that need no server: which INVITEs get a 400, and what a
PJSIP log entry becomes before it reaches the server's log."""

from __future__ import annotations

import pytest

from mediaserver.transports.sip_check import problem
from mediaserver.transports.sip_log import clean

GOOD = (
    "INVITE sip:agent@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
    'From: "A" <sip:+14155550123@127.0.0.1>;tag=abc\r\n'
    "To: <sip:agent@127.0.0.1>\r\n"
    "Call-ID: 1@x\r\n"
    "CSeq: 7 INVITE\r\n"
    "Content-Length: 4\r\n\r\n"
    "v=0\n"
)


def test_a_well_formed_invite_passes() -> None:
    assert problem(GOOD) is None
    bare = GOOD.replace('"A" <sip:+14155550123@127.0.0.1>;tag=abc', "sip:a@b;tag=1")
    assert problem(bare) is None  # an addr-spec: its parameters are the header's
    assert problem(GOOD.replace("Call-ID: 1@x", "i: 1@x")) is None  # the compact form
    assert problem(GOOD.replace("Content-Length: 4", "Content-Length: 2")) is None  # truncates


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("INVITE sip", "invite sip", "Method names are case-sensitive"),
        ("Call-ID: 1@x", "Call-ID: 1@x\r\ni: 2@x", "Duplicate Call-ID header"),
        ("CSeq: 7 INVITE", "CSeq: 7 INVITE\r\nCSeq: 8 INVITE", "Duplicate CSeq header"),
        ("To: <", "f: <sip:b@c>;tag=2\r\nTo: <", "Duplicate From header"),
        (";tag=abc", "", "From header has no tag"),
        ("Content-Length: 4", "Content-Length: 40", "Content-Length exceeds the body"),
        ("CSeq: 7 INVITE", "CSeq: 7 BYE", "CSeq method does not match the request"),
        ("CSeq: 7 INVITE", "CSeq: INVITE", "Malformed CSeq"),
        ("Call-ID: 1@x\r\n", "", "Missing Call-ID header"),
        ("To: <", "No colon here\r\nTo: <", "Malformed header line"),
    ],
)
def test_what_rfc_3261_answers_with_400(old: str, new: str, reason: str) -> None:
    assert old in GOOD
    assert problem(GOOD.replace(old, new)) == reason


def test_a_pjsip_entry_is_one_line_without_the_packet_below_level_5() -> None:
    entry = 'Error processing packet: Missing CSeq:\nINVITE sip:x SIP/2.0\r\n{"level": "error"}\n'
    assert clean(entry, verbose=False) == "Error processing packet: Missing CSeq: [rest omitted]"
    verbose = clean(entry, verbose=True)
    assert "\n" not in verbose and "\r" not in verbose
    assert verbose.endswith('\\x0d\\x0a{"level": "error"}')
    assert clean("bad \udce9 byte\x1b[31m", verbose=False) == "bad \\udce9 byte\\x1b[31m"
