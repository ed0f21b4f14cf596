"""Hostile input, piece by piece (issue 21): malformed call tokens, offers
nobody can secure, wrong credentials from one address, text no store keeps."""

from __future__ import annotations

import pytest

from mediaserver.api.auth import FailedAuth
from mediaserver.api.json_body import lone_surrogate
from mediaserver.numbers import hasher, masked
from mediaserver.store.text import escaped
from mediaserver.tokens import TokenError, issue, verify
from mediaserver.transports.webrtc import OfferError, check_offer

SECRET = "s" * 32


@pytest.mark.parametrize("token", ["a.\xe9", "\xe9", "a.b\udcff", "é.é", "a." + "\x00", ""])
def test_a_malformed_call_token_is_a_token_error(token: str) -> None:
    with pytest.raises(TokenError):
        verify(SECRET, token)


def test_a_good_call_token_still_verifies() -> None:
    assert verify(SECRET, issue(SECRET, 60, "sales")).agent == "sales"


OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=fingerprint:sha-256 AB:CD\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
)


def test_offers_without_a_fingerprint_or_with_audio_off_are_refused() -> None:
    check_offer(OFFER)
    with pytest.raises(OfferError, match="fingerprint"):
        check_offer(OFFER.replace("a=fingerprint:sha-256 AB:CD\r\n", ""))
    with pytest.raises(OfferError, match="port 0"):
        check_offer(OFFER.replace("m=audio 9 ", "m=audio 0 "))
    with pytest.raises(OfferError, match="no audio"):
        check_offer(OFFER.replace("m=audio", "m=application"))


def test_wrong_credentials_are_throttled_per_source_in_bounded_memory() -> None:
    now = [0.0]
    failures = FailedAuth(limit=3, window_seconds=60, clock=lambda: now[0])
    assert [failures.failed("10.0.0.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert failures.failed("10.0.0.1") == 60.0  # the fourth: 429 until the window ends
    assert failures.failed("10.0.0.2") == 0.0  # per source
    now[0] = 45.0
    assert failures.failed("10.0.0.1") == 15.0
    now[0] = 61.0
    assert failures.failed("10.0.0.1") == 0.0  # a new window
    for n in range(FailedAuth.MAX_SOURCES + 500):
        failures.failed(f"src{n}")
    assert failures.sources == FailedAuth.MAX_SOURCES


def test_text_no_store_keeps_is_escaped_and_text_is_left_alone() -> None:
    assert escaped("caf\xe9 \U0001f600") == "caf\xe9 \U0001f600"
    assert escaped("\udced\udca0\udcbd") == "\\xed\\xa0\\xbd"  # surrogateescape'd bytes
    assert escaped("a\ud800b") == "a\\xed\\xa0\\x80b"  # a lone surrogate
    assert escaped("nul\x00") == "nul\\x00"


def test_lone_surrogates_are_found_wherever_they_are() -> None:
    assert lone_surrogate({"a": ["ok", {"b": "x\ud800"}]}) == "body.a[1].b"
    assert lone_surrogate({"\udfff": 1}) == "body"
    assert lone_surrogate({"a": "\U0001f600", "n": 3, "z": None}) is None


def test_numbers_are_masked_or_hashed_and_the_rest_kept() -> None:
    uri = '"Bob 0044 20 7946 0958" <sip:+442079460958@trunk.example:5060>'
    assert masked(uri) == '"Bob ***958" <sip:***958@trunk.example:5060>'
    hashed = hasher(b"key")(uri)
    assert "7946" not in hashed and "@trunk.example:5060" in hashed
    assert hasher(b"key")("sip:+442079460958@a") == hasher(b"key")("sip:+442079460958@b")[:-1] + "a"
    assert masked("sip:agent@127.0.0.1:5060") == "sip:agent@127.0.0.1:5060"
