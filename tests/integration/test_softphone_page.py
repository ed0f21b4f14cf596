"""The softphone page in headless Chromium, keyboard only: a real WebRTC call
(the server in echo mode: no models), its timer, mute, and how the agent's
messages on the data channel are shown (text while spoken, interruptions)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mediaserver.agents import DEFAULT_AGENT, AgentBook
from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, JitterConfig, ServerConfig, WebRtcConfig
from mediaserver.harness import write_wav
from mediaserver.transports.call import CallHandler
from mediaserver.transports.webrtc import WebRtcServer
from tests.browser import chromium, fake_microphone, serving

pytestmark = pytest.mark.integration


def test_a_call_from_the_keyboard_with_timer_mute_and_live_agent_text(
    tmp_path: Path, artifacts: Path
) -> None:
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}"),
    )
    plane = control_plane(config)
    webrtc = WebRtcServer(
        WebRtcConfig(host_addresses=("127.0.0.1",)), JitterConfig(), CallHandler(), echo=True
    )
    app = create_http_app(config, plane, dict, phone=(webrtc, AgentBook(DEFAULT_AGENT)))
    token = plane.tokens.issue(None, 600)
    mic = tmp_path / "mic.wav"
    write_wav(mic, np.zeros(16000 * 20, np.int16))
    with serving(app) as base, chromium(fake_microphone(mic)) as browser:
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{base}/ui/phone.html")
        for _ in range(12):  # past the links to the other pages
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "token":
                break
        assert page.evaluate("document.activeElement.id") == "token"
        page.keyboard.type(token)
        page.keyboard.press("Tab")  # the token is checked, the agents listed
        assert page.evaluate("document.activeElement.id") == "agent"
        page.wait_for_selector("#agent option[value='default']", state="attached")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "call"
        page.keyboard.press("Enter")
        page.wait_for_selector("#state.connected", timeout=15000)
        assert "greeting" in page.inner_text("#activity")
        assert page.evaluate("document.activeElement.id") == "hangup"  # Enter again hangs up
        page.wait_for_function("document.getElementById('timer').textContent >= '0:02'")

        page.click("#mute")
        assert page.get_attribute("#mute", "aria-pressed") == "true"
        assert page.evaluate("window.phone.stream.getAudioTracks().every(t => !t.enabled)")
        page.click("#mute")
        assert page.evaluate("window.phone.stream.getAudioTracks().every(t => t.enabled)")

        def server_says(message: dict[str, object]) -> None:
            page.evaluate("m => window.phone.onMessage({data: m})", json.dumps(message))

        server_says({"type": "agent_text", "text": "Hello, Riverside Dental."})
        assert page.locator("#transcript li").count() == 0  # generated, not yet heard
        server_says({"type": "agent_clause", "text": "Hello,"})
        assert page.inner_text("#activity") == "Speaking"
        assert page.inner_text("#transcript li.agent.speaking .text") == "Hello,"
        server_says({"type": "agent_clause", "text": "Riverside Dental."})
        spoken = page.inner_text("#transcript li.agent.speaking .text")
        assert spoken == "Hello, Riverside Dental."
        server_says(
            {
                "type": "transcript",
                "speaker": "agent",
                "text": "Hello, Riverside Dental.",
                "interrupted": False,
                "latency_ms": None,
            }
        )
        assert page.inner_text("#activity") == "Listening"
        server_says({"type": "transcript", "speaker": "caller", "text": "When do you open?"})
        assert page.inner_text("#activity") == "Thinking…"
        server_says({"type": "agent_clause", "text": "We open at nine,"})
        server_says({"type": "agent_text", "text": "We open at nine, and on Saturday at ten."})
        assert "Saturday" not in page.inner_text("#transcript li.agent.speaking")
        page.screenshot(path=str(artifacts / "softphone-speaking.png"), full_page=True)
        server_says({"type": "interrupted"})
        server_says(
            {
                "type": "transcript",
                "speaker": "agent",
                "text": "We open at nine,",
                "interrupted": True,
                "latency_ms": 640.0,
            }
        )
        replies = page.locator("#transcript li.agent")
        assert replies.count() == 2
        assert "interrupted" in (replies.nth(1).get_attribute("class") or "")
        last = replies.nth(1).inner_text()
        assert "We open at nine," in last and "Saturday" not in last
        assert "answered in 640 ms · interrupted" in last
        assert page.inner_text("#activity").startswith("Listening")
        page.screenshot(path=str(artifacts / "softphone.png"), full_page=True)

        page.focus("#hangup")
        page.keyboard.press("Enter")
        page.wait_for_selector("#hangup:disabled")
        assert page.is_disabled("#mute")
        assert page.evaluate("document.activeElement.id") == "call"  # ready to call again
        assert page.is_hidden("#record")  # echo mode keeps no record

        # a call with a record: its "ended" names it, and the page links to it
        page.keyboard.press("Enter")
        page.wait_for_selector("#state.connected", timeout=15000)
        server_says({"type": "ended", "reason": "agent_hangup", "record_id": "rec-1"})
        page.wait_for_selector("#hangup:disabled")
        assert page.get_attribute("#record a", "href") == "/ui/calls.html#call=rec-1"
        assert page.evaluate("document.activeElement.textContent") == "Open this call's record"
        assert "agent hangup" in page.inner_text("#state")
        page.screenshot(path=str(artifacts / "softphone-ended.png"), full_page=True)
        assert problems == []
