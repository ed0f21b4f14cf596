"""The calls page in headless Chromium, driven as an operator would: sign in
once, read the list, open a call, listen to it, seek by turn, download it."""

from __future__ import annotations

import math
import struct
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, ServerConfig
from tests.browser import chromium, serving

pytestmark = pytest.mark.integration


def _config(tmp_path: Path, **api: Any) -> Config:
    return Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}", **api),
    )


def _recording(
    path: Path, seconds: float, caller: tuple[float, float], agent: tuple[float, float]
) -> None:
    """Stereo like a call's (caller left, agent right): a tone in each turn, silence between."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = 16000

    def side(n: int, turn: tuple[float, float]) -> int:
        if not turn[0] <= n / rate < turn[1]:
            return 0
        return int(4000 * math.sin(2 * math.pi * 440 * n / rate))

    frames = (
        struct.pack("<hh", side(n, caller), side(n, agent)) for n in range(int(rate * seconds))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(frames))


# The share of a waveform lane's height drawn as sound at `at` (a fraction of
# the recording): the bars' colours, not the turns' pale shading behind them.
INK = """([at, lane]) => {
    const canvas = document.getElementById('waveform');
    const half = Math.floor(canvas.height / 2);
    const x = Math.floor(at * canvas.width);
    const data = canvas.getContext('2d').getImageData(x, lane * half, 1, half).data;
    let ink = 0;
    for (let i = 0; i < data.length; i += 4)
        if (data[i + 3] > 200 && data[i] + data[i + 1] + data[i + 2] < 640) ink++;
    return ink / half;
}"""


@contextmanager
def _page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page and the console errors it logs (a 404 for /favicon.ico is one)."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        yield page, problems
    finally:
        context.close()


def test_an_operator_reviews_a_finished_call(tmp_path: Path, artifacts: Path) -> None:
    config = _config(tmp_path)
    plane = control_plane(config)
    store = plane.store
    call = store.call_created(
        transport="sip", direction="inbound", agent="default", from_uri="sip:alice@127.0.0.1"
    )
    store.add_turn(call, "caller", "What time do you open on Saturday?", start_s=4.0, end_s=6.2)
    store.add_turn(
        call,
        "agent",
        "We open at nine on Saturday.",
        start_s=7.1,
        end_s=9.0,
        timings_ms={"stt_done": 180.0, "first_token": 420.0, "first_audio_out": 912.0},
    )
    store.add_event(call, 8.0, "dtmf", "1")
    recording = plane.data_dir / "recordings" / f"{call}.wav"
    _recording(recording, 12.0, caller=(4.0, 6.2), agent=(7.1, 9.0))
    store.update_call(call, recording_path=str(recording))
    store.call_ended(call, "caller_hangup", 200)
    browser_call = store.call_created(transport="webrtc", direction="inbound", agent="default")
    store.add_turn(browser_call, "agent", "Your order is booked.", start_s=1.0, end_s=2.0)
    store.call_ended(browser_call, "agent_hangup")
    key = store.create_key("viewer")
    app = create_http_app(config, plane, dict)
    with serving(app) as base, chromium() as browser, _page(browser) as (page, problems):
        page.goto(f"{base}/")  # redirects to the page, which asks for a key
        page.wait_for_selector("#error:has-text('API key')")
        page.fill("#key", key)
        page.click("#key-form button")
        page.wait_for_selector("#signed-in:visible")
        assert page.is_hidden("#key-form")
        page.wait_for_selector("#who:has-text('viewer')")
        row = page.wait_for_selector(f"tr[data-id='{call}']")
        cells = row.inner_text()
        assert "Caller hung up" in cells and "caller_hangup" not in cells
        for column in ("sip", "sip:alice@127.0.0.1", "912 ms", "\t2\t"):
            assert column in cells, (column, cells)
        browser_row = page.inner_text(f"tr[data-id='{browser_call}']")
        assert "browser" in browser_row and "Agent hung up" in browser_row
        page.screenshot(path=str(artifacts / "calls-list.png"), full_page=True)

        row.click()
        page.wait_for_selector("#transcript li.agent")
        transcript = page.inner_text("#transcript")
        assert "What time do you open on Saturday?" in transcript
        assert "STT 180 ms · First token 420 ms · First audio 912 ms" in transcript
        assert "8.0 s · Caller pressed 1" in page.inner_text("#events")
        page.click("#definitions summary")
        assert "voice-to-voice" in page.inner_text("#definitions")

        # the waveform: the caller's tone in the top lane, the agent's in the bottom one
        page.wait_for_selector("#waveform:visible")
        page.wait_for_function(f"({INK})([5 / 12, 0]) > 0.2")
        assert page.evaluate(INK, [8 / 12, 1]) > 0.2  # the agent at 8 s
        assert page.evaluate(INK, [5 / 12, 1]) < 0.05  # the agent is silent while the caller talks
        assert page.evaluate(INK, [2 / 12, 0]) < 0.05  # silence before the caller speaks

        # play past a 3 s poll: nothing reloads the player, and the turn heard is marked
        page.wait_for_selector("#player:visible")
        source = page.eval_on_selector("#player", "p => p.src")
        page.eval_on_selector("#player", "p => p.play()")
        page.wait_for_selector("#transcript li.caller.playing", timeout=15000)  # 4.0-6.2 s
        page.screenshot(path=str(artifacts / "call-detail.png"), full_page=True)
        page.wait_for_selector("#transcript li.agent.playing", timeout=15000)  # 7.1-9.0 s
        assert page.is_hidden("#transcript li.caller.playing")
        assert page.eval_on_selector("#player", "p => p.src") == source
        assert not page.eval_on_selector("#player", "p => p.paused")
        assert page.eval_on_selector("#player", "p => p.currentTime") > 7.1

        page.click("#transcript li.caller")  # seek to the caller's turn at 4.0 s
        at = page.eval_on_selector("#player", "p => p.currentTime")
        assert 4.0 <= at < 6.2, at
        page.wait_for_selector("#transcript li.caller.playing")
        page.click("#transcript li.agent")  # and to the agent's at 7.1 s
        at = page.eval_on_selector("#player", "p => p.currentTime")
        assert 7.0 <= at < 9.0, at
        box = page.locator("#waveform").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 4, box["y"] + box["height"] / 2)
        at = page.eval_on_selector("#player", "p => p.currentTime")
        assert 2.8 <= at <= 3.2, at  # a quarter of 12 s
        page.click("#events li[data-kind=dtmf]")
        at = page.eval_on_selector("#player", "p => p.currentTime")
        assert 7.9 <= at <= 8.1, at

        with page.expect_download() as text_download:
            page.click("#downloads a:has-text('text')")
        text = Path(text_download.value.path()).read_text()
        assert "agent: We open at nine on Saturday." in text
        with page.expect_download() as wav_download:
            page.click("#downloads a:has-text('WAV')")
        assert Path(wav_download.value.path()).read_bytes() == recording.read_bytes()

        page.select_option("#end_reason", "agent_hangup")
        page.wait_for_selector(f"tr[data-id='{call}']", state="detached")
        assert page.is_visible(f"tr[data-id='{browser_call}']")
        page.select_option("#end_reason", "")
        page.fill("#until", "2020-01-31")  # before any call
        page.wait_for_selector("tr.empty:has-text('No calls match')")
        page.fill("#until", "")
        page.fill("#agent", "default")
        page.wait_for_selector(f"tr[data-id='{call}']")
        page.fill("#q", "nothing like this")
        page.wait_for_selector("tr.empty:has-text('No calls match')")
        page.set_viewport_size({"width": 390, "height": 844})  # a phone screen
        page.fill("#q", "")
        page.wait_for_selector(f"tr[data-id='{call}']")
        page.screenshot(path=str(artifacts / "calls-page-phone.png"), full_page=True)

        def with_analysis(route: Any) -> None:  # fields other branches add to GET /calls/{id}
            record = route.fetch().json()
            record["analysis"] = {
                "summary": "The caller booked a bread order.",
                "disposition": "order_placed",
                "sentiment": "positive",
                "fields": {"loaves": 2, "pickup": "Saturday"},
            }
            record["turns"][0]["tool_calls"] = [
                {"name": "book_order", "arguments": {"loaves": 2}, "result": "ok"}
            ]
            record["turns"][0]["chunks"] = [{"title": "Opening hours"}, "price list"]
            route.fulfill(json=record)

        page.route(f"{base}/calls/{browser_call}", with_analysis)
        page.goto(f"{base}/ui/calls.html#call={browser_call}")  # a link from the live page
        page.wait_for_selector(f"#facts:has-text('{browser_call}')")
        assert "browser" in page.inner_text("#facts")
        analysis = page.inner_text("#analysis")
        for shown in ("booked a bread order", "order_placed", "positive", "loaves", "Saturday"):
            assert shown in analysis, (shown, analysis)
        turn = page.inner_text("#transcript li.agent")
        assert 'book_order({"loaves":2}) → ok' in turn and "Opening hours; price list" in turn
        assert page.is_hidden("#waveform")  # no recording: no waveform
        page.screenshot(path=str(artifacts / "call-analysis.png"), full_page=True)
        assert problems == []


def test_sign_in_once_per_session_and_readable_refusals(tmp_path: Path, artifacts: Path) -> None:
    config = _config(tmp_path, auth_failures=2)
    plane = control_plane(config)
    key = plane.store.create_key("viewer")
    app = create_http_app(config, plane, dict)
    with serving(app) as base, chromium() as browser, _page(browser) as (page, problems):
        page.goto(f"{base}/ui/calls.html#key={key}")
        page.wait_for_selector("tr.empty:has-text('No calls yet')")
        assert key not in page.url
        assert page.is_visible("#signed-in") and page.is_hidden("#key-form")
        page.reload()  # the key stays for the browser session
        page.wait_for_selector("tr.empty:has-text('No calls yet')")
        page.screenshot(path=str(artifacts / "calls-empty.png"), full_page=True)

        page.click("#sign-out")
        page.wait_for_selector("#key-form:visible")
        for _ in range(2):
            page.fill("#key", "msk_wrong_key")
            page.click("#key-form button")
            page.wait_for_selector("#error:has-text('was not accepted')")
            page.wait_for_selector("#key-form:visible")  # a refused key signs out
            assert "401" not in page.inner_text("#error")
            page.evaluate("document.getElementById('error').textContent = ''")
        page.fill("#key", "msk_wrong_key")
        page.click("#key-form button")
        page.wait_for_selector("#error:has-text('Too many wrong keys')")
        page.screenshot(path=str(artifacts / "calls-refused.png"), full_page=True)
        # only the server's refusals themselves are logged, as the browser does for any 4xx
        assert all("Failed to load resource" in p for p in problems), problems


def test_a_good_key_over_its_rate_is_told_to_wait_and_stays_signed_in(
    tmp_path: Path, artifacts: Path
) -> None:
    config = _config(tmp_path, rate_per_second=0.01, rate_burst=3)
    plane = control_plane(config)
    key = plane.store.create_key("viewer")
    app = create_http_app(config, plane, dict)
    with serving(app) as base, chromium() as browser, _page(browser) as (page, _):
        page.goto(f"{base}/ui/calls.html#key={key}")  # /auth/me, /calls, /agents: the burst
        page.wait_for_selector("tr.empty:has-text('No calls yet')")
        page.fill("#q", "saturday")  # one more: over the key's rate
        page.wait_for_selector("#error:has-text('Too many requests with this key')")
        assert page.is_visible("#signed-in") and page.is_hidden("#key-form")
        page.screenshot(path=str(artifacts / "calls-rate-limited.png"), full_page=True)
