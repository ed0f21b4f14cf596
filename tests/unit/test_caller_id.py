"""Caller IDs: what POST /calls and POST /campaigns accept, and the From URI each becomes."""

from __future__ import annotations

import pytest

from mediaserver.caller_id import checked, from_uri


@pytest.mark.parametrize(
    "value",
    [
        "",
        "+14155550100",
        "+442071838750",
        "sip:sales@example.com",
        "sips:+1415@10.0.0.1:5061",
        "sip:sales@[::1]:5060",
        "sip:example.com",
        "sip:sales@example.com;user=phone",
    ],
)
def test_numbers_and_sip_uris_are_caller_ids(value: str) -> None:
    assert checked(value) == value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("Sales", "neither an E.164 number"),
        ("4155550100", "neither an E.164 number"),  # national: no country to read it in
        ("+1 415 555 0100", "neither an E.164 number"),
        ("+0123456789", "neither an E.164 number"),
        ("tel:+14155550100", "neither an E.164 number"),
        ("sip:a@example.com>;tag=x", "neither an E.164 number"),  # would break out of <...>
        ("sip:a@example.com\r\nX-Injected: 1", "neither an E.164 number"),
        ('"Boss" <sip:a@example.com>', "neither an E.164 number"),
        ("sip:" + "a" * 70 + "@example.com", "at most 64 characters"),
    ],
)
def test_anything_else_is_refused_with_the_reason(value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        checked(value)


def test_a_number_is_called_from_the_accounts_host_and_a_uri_as_it_is() -> None:
    assert from_uri("+14155550100", "127.0.0.1:5060") == "sip:+14155550100@127.0.0.1:5060"
    assert from_uri("sip:sales@example.com", "127.0.0.1:5060") == "sip:sales@example.com"
