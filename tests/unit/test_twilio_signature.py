"""X-Twilio-Signature against the worked example of Twilio's request-validation
documentation (the vector every Twilio helper library tests with)."""

from __future__ import annotations

from mediaserver.api.twilio import signature, stream_url

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [
    ("Digits", "1234"),
    ("To", "+18005551212"),
    ("From", "+14158675309"),
    ("Caller", "+14158675309"),
    ("CallSid", "CA1234567890ABCDE"),
]


def test_the_documented_vector() -> None:
    assert signature("12345", URL, PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature("12345", URL + "&extra=1", PARAMS) != "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert signature("54321", URL, PARAMS) != "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_a_repeated_parameter_counts_each_distinct_value_in_order() -> None:
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678")]
    repeated += [("Digits", "1234"), ("Digits", "1234")]
    assert signature("12345", URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_the_stream_url_follows_the_public_urls_scheme() -> None:
    assert stream_url("https://voice.example.com/") == "wss://voice.example.com/twilio/media"
    assert stream_url("http://10.0.0.5:8080/edge") == "ws://10.0.0.5:8080/edge/twilio/media"
