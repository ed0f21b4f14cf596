"""Twilio Media Streams: a client written from Twilio's documentation
(tests/twilio_client.py) against a real `mediaserver serve` with real models."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from mediaserver.harness import read_wav
from models import registry, store
from models.stt import WhisperSTT
from native import resample
from tests.server import Server, start_server, stop_server
from tests.speech import speak
from tests.twilio_client import TwilioCall, parse_twiml, sign, webhook

pytestmark = pytest.mark.integration

AUTH = "test-auth-token-4f1c2a"
MENU_NUMBER = "+15550002222"
CONFIG = (
    f'[twilio]\nauth_token = "{AUTH}"\npublic_url = "http://127.0.0.1:{{http_port}}"\n'
    "max_calls = 3\n"
    "[websocket]\nmedia_timeout_seconds = 3\nstart_timeout_seconds = 3\n"
    f'[[sip.routes]]\nnumber = "{MENU_NUMBER}"\nagent = "frontdesk"\n'
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("twilio"), CONFIG)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def stt() -> WhisperSTT:
    model = WhisperSTT(store.locate(registry.by_name("whisper-tiny.en")))
    model.load()
    return model


def base(server: Server) -> str:
    return f"http://127.0.0.1:{server.http_port}"


def answer(
    server: Server, params: dict[str, str] | None = None, path: str = "/twilio/voice"
) -> Any:
    """The TwiML for an incoming call (the webhook, signed)."""
    form = {"CallSid": "CA" + "a" * 32, "From": "+15550001111", "To": "+15550009999"}
    reply = webhook(base(server), AUTH, path, {**form, **(params or {})})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/xml")
    return parse_twiml(reply.text)


async def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def record_of(server: Server, call_sid: str, timeout: float = 20) -> dict[str, Any]:
    """The ended call record with this CallSid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in server.api("/calls?limit=50").json()["items"]:
            if item["external_id"] == call_sid and item["ended_at"]:
                return dict(server.api(f"/calls/{item['id']}").json())
        time.sleep(0.3)
    raise AssertionError(f"no ended record for {call_sid}\n{server.tail()}")


def spoken(tmp_path: Path, text: str) -> np.ndarray:
    speak(text, tmp_path / "spoken.wav")
    return read_wav(tmp_path / "spoken.wav", 60)


def heard_text(stt: WhisperSTT, call: TwilioCall) -> str:
    pcm = resample.resampler(8000, 16000).process(call.heard_pcm())
    return str(stt.transcribe(pcm).text.lower())


# -- the webhook ------------------------------------------------------------------
def test_the_webhook_needs_twilios_signature(server: Server) -> None:
    form = {"CallSid": "CA" + "b" * 32, "From": "+15550001111", "To": "+15550009999"}
    url = base(server) + "/twilio/voice"
    assert webhook(base(server), AUTH, "/twilio/voice", form, signature="").status_code == 403
    forged = sign("another-accounts-token", url, form)
    assert webhook(base(server), AUTH, "/twilio/voice", form, signature=forged).status_code == 403
    tampered = sign(AUTH, url, {**form, "To": "+15550000000"})
    assert webhook(base(server), AUTH, "/twilio/voice", form, signature=tampered).status_code == 403
    twiml = answer(server)
    assert twiml.stream_url == f"ws://127.0.0.1:{server.http_port}/twilio/media"
    assert twiml.parameters["from"] == "+15550001111" and twiml.gather_action is None

    async def handshake(signature: str) -> None:
        async with websockets.connect(
            twiml.stream_url, additional_headers={"X-Twilio-Signature": signature}
        ):
            pass

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(handshake(sign("another-accounts-token", twiml.stream_url)))
    assert refused.value.response.status_code == 403
    assert server.alive()


# -- a whole call -------------------------------------------------------------------
def test_a_call_greets_answers_is_interrupted_takes_a_digit_and_is_recorded(
    server: Server, stt: WhisperSTT, tmp_path: Path
) -> None:
    question = spoken(tmp_path, "What time do you open on Saturday?")
    over = spoken(tmp_path, "Sorry, stop, can I book a cleaning for next Tuesday instead?")
    call_sid = "CA" + "c" * 32

    async def scenario() -> TwilioCall:
        call = TwilioCall(AUTH, answer(server, {"CallSid": call_sid}), call_sid)
        await call.connect()
        playback = call.playback
        # the greeting: its clauses played, each mark echoed once played
        await until(lambda: playback.marks_echoed != [], 30, "the greeting's marks")
        await until(lambda: not playback.queue, 20, "the greeting to finish")
        greeting_media = playback.media_received
        call.say(question)
        await until(lambda: playback.media_received > greeting_media, 60, "an answer")
        await asyncio.sleep(1.2)  # some of the answer played
        # the caller talks over the answer: Twilio is told to drop what it holds
        call.say(over)
        await until(lambda: playback.cleared > 0, 20, "a clear on barge-in")
        cleared_at = playback.media_received
        await until(lambda: playback.media_received > cleared_at + 25, 60, "the next answer")
        await until(lambda: not playback.queue, 60, "playback to drain")
        await call.press("5")
        await asyncio.sleep(1)
        await until(lambda: not playback.queue, 60, "playback to drain")
        await call.stop()
        return call

    call = asyncio.run(scenario())
    playback = call.playback
    # every mark came back, in the order sent (played, or dropped by a clear)
    assert playback.marks_echoed == playback.marks_received
    assert [int(m) for m in playback.marks_received] == sorted(
        int(m) for m in playback.marks_received
    )
    heard = heard_text(stt, call)
    assert "riverside" in heard or "dental" in heard, heard
    record = record_of(server, call_sid)
    assert record["transport"] == "twilio" and record["end_reason"] == "caller_hangup", record
    assert record["from_uri"] == "+15550001111"
    turns = record["turns"]
    assert any(t["speaker"] == "caller" and "saturday" in t["text"].lower() for t in turns), turns
    assert any(t["speaker"] == "caller" and "tuesday" in t["text"].lower() for t in turns), turns
    # the answer cut short is kept as far as the caller heard it: some words, not all
    cut = [t for t in turns if t["speaker"] == "agent" and t["interrupted"]]
    assert cut and cut[0]["text"], turns
    events = [(e["kind"], e["value"]) for e in record["events"]]
    assert ("dtmf", "5") in events, events
    assert any(kind == "interrupted" and value for kind, value in events), events


def test_a_menu_digit_through_gather_picks_the_option(
    server: Server, stt: WhisperSTT, tmp_path: Path
) -> None:
    frontdesk = {
        "name": "frontdesk",
        "greeting": "Front desk.",
        "ivr_menu": [
            {"digit": "1", "language": "en", "greeting": "You reached appointments."},
            {"digit": "2", "language": "en", "greeting": "You reached the billing team."},
        ],
    }
    made = server.post("/agents", frontdesk)
    assert made.status_code == 201, made.text
    gather = answer(server, {"To": MENU_NUMBER})
    assert gather.gather_action is not None and "press 2" in gather.say.lower(), gather
    action = gather.gather_action.removeprefix(base(server))
    chosen = answer(server, {"To": MENU_NUMBER, "Digits": "2"}, path=action)
    assert chosen.gather_action is None and chosen.parameters["digits"] == "2", chosen
    assert chosen.parameters["agent"] == "frontdesk"
    call_sid = "CA" + "d" * 32

    async def scenario() -> TwilioCall:
        call = TwilioCall(AUTH, chosen, call_sid)
        await call.connect()
        await until(lambda: call.playback.marks_echoed != [], 30, "the option's greeting")
        await until(lambda: not call.playback.queue, 20, "the greeting to finish")
        await call.stop()
        return call

    call = asyncio.run(scenario())
    assert "billing" in heard_text(stt, call)
    record = record_of(server, call_sid)
    assert record["agent"] == "frontdesk"
    assert ("menu", "2 en") in [(e["kind"], e["value"]) for e in record["events"]], record
    assert record["turns"][0]["text"] == "You reached the billing team.", record["turns"]


# -- bad peers ------------------------------------------------------------------------
def test_bad_streams_are_closed_with_the_right_codes_and_nothing_else_is_hurt(
    server: Server,
) -> None:
    twiml = answer(server)

    async def started(sid: str) -> TwilioCall:
        """A call the server has begun: its greeting is arriving. (A bad frame
        sent before the server read the start message can close the socket
        first: uvicorn then drops the start unread, and no call ever began.)"""
        call = TwilioCall(AUTH, twiml, sid)
        await call.connect()
        deadline = time.monotonic() + 15
        while call.playback.media_received == 0:
            assert time.monotonic() < deadline, f"{sid}: no greeting"
            await asyncio.sleep(0.02)
        return call

    async def scenario() -> dict[str, tuple[int | None, str]]:
        healthy = await started("CA" + "0" * 31 + "1")
        outcomes = {}
        bad_json = await started("CA" + "0" * 31 + "2")
        await bad_json.ws.send("{not json")
        outcomes["json"] = await bad_json.closed()
        big = await started("CA" + "0" * 31 + "3")
        await big.ws.send("x" * (1 << 20))
        outcomes["big"] = await big.closed()
        binary = await started("CA" + "0" * 31 + "4")
        await binary.ws.send(b"\x00" * 160)
        outcomes["binary"] = await binary.closed()
        wrong = TwilioCall(AUTH, twiml, "CA" + "0" * 31 + "5")
        await wrong.connect(
            media_format={"encoding": "audio/l16", "sampleRate": 16000, "channels": 1}
        )
        outcomes["format"] = await wrong.closed()
        stalled = await started("CA" + "0" * 31 + "6")
        for task in stalled._tasks[1:]:  # its media stops: the network went away
            task.cancel()
        outcomes["stalled"] = await stalled.closed(seconds=15)
        for call in (bad_json, big, binary, wrong, stalled):
            await call.close()
        assert healthy.ws.close_code is None  # untouched by its neighbours
        await healthy.stop()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert outcomes["json"][0] == 1007 and "JSON" in outcomes["json"][1], outcomes
    assert outcomes["big"][0] == 1009 and "bytes" in outcomes["big"][1], outcomes
    assert outcomes["binary"][0] == 1003, outcomes
    assert outcomes["format"][0] == 1003 and "mediaFormat" in outcomes["format"][1], outcomes
    assert outcomes["stalled"][0] == 1008 and "no audio" in outcomes["stalled"][1], outcomes
    reasons = {
        sid[-1]: record_of(server, sid)["end_reason"]
        for sid in ("CA" + "0" * 31 + d for d in "12346")
    }
    assert reasons == {
        "1": "caller_hangup",
        "2": "protocol_error",
        "3": "message_too_big",
        "4": "protocol_error",
        "6": "media_timeout",
    }, reasons
    assert server.alive()


def test_past_max_calls_a_stream_is_refused_with_1013(server: Server) -> None:
    twiml = answer(server)

    async def scenario() -> tuple[int | None, str]:
        url = twiml.stream_url
        headers = {"X-Twilio-Signature": sign(AUTH, url)}
        held = [await websockets.connect(url, additional_headers=headers) for _ in range(3)]
        extra = await websockets.connect(url, additional_headers=headers)
        await asyncio.wait_for(extra.wait_closed(), 10)
        for socket in held:
            await socket.close()
        return extra.close_code, extra.close_reason or ""

    code, reason = asyncio.run(scenario())
    assert code == 1013 and "slots" in reason, (code, reason)
    time.sleep(0.5)
    assert server.alive()
