"""Browser calls: aiortc peers and headless Chromium against the server's
WebRTC transport, on loopback, with real models answering."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from mediaserver.config import JitterConfig, WebRtcConfig
from mediaserver.harness import read_wav, write_wav
from mediaserver.transports.call import CallHandler
from mediaserver.transports.webrtc import WebRtcServer
from tests.relay import Impairment, Relay
from tests.server import Server, start_server, stop_server
from tests.speech import speak
from tests.webrtc_peer import RATE, Peer

pytestmark = pytest.mark.integration

PHONE_CONFIG = (
    '[webrtc]\nhost_addresses = ["127.0.0.1"]\nmedia_timeout_seconds = 3\n'
    "connect_timeout_seconds = 5\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("webrtc"), PHONE_CONFIG)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def token(server: Server) -> str:
    return server.cli("tokens", "create")


def offer_over_http(http_port: int, token: str, agent: str = "default") -> Any:
    async def signal(offer: dict[str, str]) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as client:
            reply = await client.post(
                f"http://127.0.0.1:{http_port}/webrtc/offer",
                json={**offer, "agent": agent},
                headers={"Authorization": f"Bearer {token}"},
            )
        reply.raise_for_status()
        return dict(reply.json())

    return signal


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


# -- signaling: bad input -----------------------------------------------------------
def test_bad_offers_get_clear_errors(server: Server, token: str) -> None:
    good = {"sdp": "v=0\r\n", "type": "offer", "agent": "default"}
    assert server.post("/webrtc/offer", good, token="").status_code == 401
    assert server.post("/webrtc/offer", good, token="nope.nope").status_code == 401
    assert server.post("/webrtc/offer", good, token=server.key).status_code == 401  # an API key
    garbage = server.post("/webrtc/offer", {**good, "sdp": "this is not SDP"}, token=token)
    assert garbage.status_code == 400 and garbage.json()["detail"]
    no_audio = asyncio.run(_data_only_offer())
    reply = server.post("/webrtc/offer", {**good, "sdp": no_audio}, token=token)
    assert reply.status_code == 400 and "audio" in reply.json()["detail"]
    assert server.post("/webrtc/offer", {**good, "type": "answer"}, token=token).status_code == 422
    unknown = server.post("/webrtc/offer", {**good, "agent": "nobody"}, token=token)
    assert unknown.status_code == 404
    sales_only = server.cli("tokens", "create", "--agent", "sales")
    assert server.post("/webrtc/offer", good, token=sales_only).status_code == 401
    assert server.alive()


async def _data_only_offer() -> str:
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.createDataChannel("control")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


def test_twenty_offers_at_once_do_not_hurt_the_server(server: Server, token: str) -> None:
    async def burst() -> list[int]:
        peers = [Peer(silence(1)) for _ in range(20)]
        offers = await asyncio.gather(*(p.offer() for p in peers))
        async with httpx.AsyncClient(timeout=60) as client:
            replies = await asyncio.gather(
                *(
                    client.post(
                        f"http://127.0.0.1:{server.http_port}/webrtc/offer",
                        json={**offer, "agent": "default"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for offer in offers
                )
            )
        await asyncio.gather(*(p.close() for p in peers))
        return [r.status_code for r in replies]

    since = server.mark()
    codes = asyncio.run(burst())
    assert set(codes) <= {200, 503} and codes.count(200) >= 1, codes
    assert server.alive()
    # never connected: each answered offer is given up after connect_timeout_seconds
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log = server.log.read_text(errors="replace")[since:]
        if log.count("ended (connect_timeout)") >= codes.count(200):
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the unconnected offers were never given up")
    assert httpx.get(f"http://127.0.0.1:{server.http_port}/healthz").status_code == 200


# -- the media path -------------------------------------------------------------
def beeps(
    seconds: float, every: float = 1.0, length: float = 0.2
) -> tuple[np.ndarray, list[float]]:
    """A 1 kHz beep every `every` seconds (from 1 s): the audio and the beep times."""
    audio = silence(seconds)
    t = np.arange(int(0.2 * RATE))
    beep = (9000 * np.sin(2 * np.pi * 1000 * t / RATE)).astype(np.int16)
    starts = list(np.arange(1.0, seconds - 1.0, every))
    for start in starts:
        at = int(start * RATE)
        audio[at : at + beep.size] = beep
    return audio, starts


def onsets(audio: np.ndarray, threshold: float = 2000) -> list[float]:
    """Where beeps start (seconds), from 10 ms RMS."""
    frames = audio[: audio.size // 480 * 480].reshape(-1, 480).astype(float)
    loud = np.sqrt((frames**2).mean(axis=1)) > threshold
    rises = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    return [i * 0.01 for i in rises]


def test_through_loss_and_reordering_audio_is_concealed_and_delay_stays_bounded() -> None:
    """Echo mode: the server's own media path returns what it gets, through a
    relay that drops 8% of the caller's packets and reorders (40 +- 25 ms)."""

    async def scenario() -> tuple[Any, Peer, Relay, list[float]]:
        server = WebRtcServer(
            WebRtcConfig(host_addresses=("127.0.0.1",)), JitterConfig(), CallHandler(), echo=True
        )
        audio, sent = beeps(12.0)
        peer = Peer(audio)
        relays: list[Relay] = []

        async def signal(offer: dict[str, str]) -> dict[str, Any]:
            _, sdp = await server.answer(offer["sdp"], "offer")
            found = re.search(r"a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+)", sdp)
            assert found is not None
            port = int(found.group(1))
            relay = await Relay.start(
                ("127.0.0.1", port), Impairment(loss=0.08, delay_ms=40, jitter_ms=25)
            )
            relays.append(relay)
            return {"sdp": sdp.replace(f"127.0.0.1 {port}", f"127.0.0.1 {relay.port}")}

        await peer.connect(signal)
        await asyncio.sleep(12.5)
        call = next(iter(server.calls.values()))
        stats = call.stats
        await peer.hang_up()
        await server.stop()
        relays[0].close()
        return stats, peer, relays[0], sent

    stats, peer, relay, sent = asyncio.run(scenario())
    assert relay.dropped > 20 and relay.forwarded > 400
    assert stats.concealed >= relay.dropped * 0.5  # losses were concealed, and counted
    assert peer.heard.longest_gap() < 0.1  # the caller's audio never stalled
    heard = onsets(peer.heard.audio)
    # each beep came back once, after a delay that stays bounded (no drift)
    delays = []
    for start in sent:
        later = [t for t in heard if t > start]
        assert later, (start, heard)
        delays.append(later[0] - start)
    first_arrival = delays[0]
    assert all(abs(d - first_arrival) < 0.15 for d in delays), delays
    assert max(delays) - min(delays) < 0.15


def test_a_peer_that_vanishes_ends_its_call_and_closes_the_record(
    server: Server, token: str
) -> None:
    code = (
        "import asyncio, sys\n"
        "import numpy as np\n"
        "from tests.webrtc_peer import Peer\n"
        "from tests.integration.test_webrtc import offer_over_http\n"
        "async def main():\n"
        "    peer = Peer(np.zeros(48000 * 60, np.int16))\n"
        f"    await peer.connect(offer_over_http({server.http_port}, {token!r}))\n"
        "    print('connected', flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    peer = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    try:
        assert peer.stdout is not None and peer.stdout.readline().strip() == "connected"
        call = server.newest_call(ended=False)
        assert call["transport"] == "webrtc" and not call["ended_at"]
        time.sleep(2)
        peer.send_signal(signal.SIGKILL)  # gone: no hang-up, no DTLS close
    finally:
        peer.kill()
        peer.wait(10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        record = server.api(f"/calls/{call['id']}").json()
        if record["ended_at"]:
            break
        time.sleep(0.5)
    assert record["end_reason"] == "media_timeout", record


# -- the page in a real browser ------------------------------------------------------
def test_the_softphone_page_talks_to_the_agent_in_chromium(
    server: Server, token: str, tmp_path: Path, artifacts: Path
) -> None:
    from tests.browser import chromium, fake_microphone

    speak("What time do you open on Saturday?", tmp_path / "spoken.wav")
    question = read_wav(tmp_path / "spoken.wav", 60)  # 16 kHz mono
    lead = np.zeros(16000 * 9, np.int16)  # the greeting plays first (and >= 1 s for Chrome)
    tail = np.zeros(16000 * 10, np.int16)
    mic = tmp_path / "mic.wav"
    write_wav(mic, np.concatenate([lead, question, tail]))
    base = f"http://127.0.0.1:{server.http_port}"
    with chromium(fake_microphone(mic)) as browser:
        page = browser.new_page()
        page.goto(f"{base}/ui/phone.html#token={token}")
        page.wait_for_selector("#agent option[value='default']", state="attached")
        page.click("#call")
        page.wait_for_selector("#state.connected", timeout=15000)
        page.wait_for_selector("#transcript li.agent", timeout=20000)  # the greeting
        page.wait_for_selector("#transcript li.caller", timeout=40000)
        page.wait_for_function(
            # the reply shows while spoken; then its record, with its latency, replaces it
            "document.querySelectorAll('#transcript li.agent:not(.speaking)').length >= 2",
            timeout=40000,
        )
        energy = page.evaluate(
            """async () => {
                const stats = await window.phone.pc.getStats();
                for (const s of stats.values())
                    if (s.type === 'inbound-rtp' && s.kind === 'audio') return s.totalAudioEnergy;
                return 0;
            }"""
        )
        transcript = page.inner_text("#transcript")
        page.screenshot(path=str(artifacts / "softphone.png"), full_page=True)
        page.click("#keypad button[data-digit='5']")
        page.wait_for_timeout(500)
        page.click("#hangup")
        page.wait_for_selector("#hangup:disabled")
        link = page.wait_for_selector("#record a").get_attribute("href")  # the server's "ended"
    assert energy > 0.01, energy  # the page heard the agent
    assert "saturday" in transcript.lower(), transcript
    assert "answered in" in transcript  # per-turn latency shown
    record = server.newest_call()
    assert record["transport"] == "webrtc" and record["end_reason"] == "caller_hangup"
    assert link == f"/ui/calls.html#call={record['id']}"
    turns = record["turns"]
    assert isinstance(turns, list)
    assert any(t["speaker"] == "caller" and "saturday" in t["text"].lower() for t in turns)
    events = record["events"]
    assert isinstance(events, list) and ("dtmf", "5") in [(e["kind"], e["value"]) for e in events]


def test_the_page_says_so_when_the_microphone_is_denied_or_the_token_is_bad(
    server: Server, token: str
) -> None:
    from tests.browser import chromium

    base = f"http://127.0.0.1:{server.http_port}"
    with chromium() as browser:  # no fake media UI: the permission prompt is dismissed
        page = browser.new_page()
        page.goto(f"{base}/ui/phone.html#token={token}")
        page.wait_for_selector("#agent option[value='default']", state="attached")
        page.click("#call")
        page.wait_for_selector("#error:has-text('Microphone')")
        assert page.is_enabled("#call") and not page.is_enabled("#hangup")
        page.fill("#token", "not-a-token")
        page.dispatch_event("#token", "change")
        page.wait_for_selector("#error:has-text('call token was refused')")


def test_an_operator_watches_a_browser_call_live_and_hangs_it_up(
    server: Server, token: str, tmp_path: Path, artifacts: Path
) -> None:
    from tests.browser import chromium, fake_microphone

    speak("What time do you open on Saturday?", tmp_path / "spoken.wav")
    question = read_wav(tmp_path / "spoken.wav", 60)
    mic = tmp_path / "mic.wav"
    write_wav(mic, np.concatenate([silence(9.0), question, silence(30.0)]).astype(np.int16))
    base = f"http://127.0.0.1:{server.http_port}"
    with chromium(fake_microphone(mic)) as browser:
        live = browser.new_page()
        problems: list[str] = []
        live.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        live.goto(f"{base}/ui/live.html#key={server.key}")
        live.wait_for_selector("#status:has-text('No calls in progress')")
        phone = browser.new_page()
        phone.goto(f"{base}/ui/phone.html#token={token}")
        phone.wait_for_selector("#agent option[value='default']", state="attached")
        phone.click("#call")
        phone.wait_for_selector("#state.connected", timeout=15000)
        card = live.wait_for_selector("article.live-call", timeout=15000)
        live.wait_for_selector("article.live-call li.agent", timeout=30000)  # the greeting
        live.wait_for_selector("article.live-call li.caller:has-text('aturday')", timeout=40000)
        live.screenshot(path=str(artifacts / "live-calls.png"), full_page=True)
        call_id = card.get_attribute("data-id")
        live.click("article.live-call button.danger")
        phone.wait_for_selector("#hangup:disabled", timeout=15000)
        assert "Call ended" in phone.inner_text("#state")
        live.wait_for_selector("article.live-call", state="detached", timeout=15000)
        assert problems == []
    record = server.api(f"/calls/{call_id}").json()
    assert record["end_reason"] == "operator_hangup", record
