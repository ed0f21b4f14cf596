"""The calls page in headless Chromium shows a finished call's transcript."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, ServerConfig
from tests.browser import chromium, serving

pytestmark = pytest.mark.integration


def test_the_calls_page_shows_a_finished_calls_transcript(tmp_path: Path, artifacts: Path) -> None:
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}"),
    )
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
        timings_ms={"first_audio_out": 912.0},
    )
    store.call_ended(call, "caller_hangup", 200)
    key = store.create_key("viewer")
    app = create_http_app(config, plane, dict)
    with serving(app) as base, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{base}/")  # redirects to the page, which asks for a key
        page.wait_for_selector("#error:has-text('API key')")
        page.fill("#key", key)
        page.click("#key-form button")
        row = page.wait_for_selector(f"tr[data-id='{call}']")
        assert "caller_hangup" in row.inner_text()
        row.click()
        page.wait_for_selector("#transcript li.agent")
        page.screenshot(path=str(artifacts / "calls-page.png"), full_page=True)
        transcript = page.inner_text("#transcript")
        assert "What time do you open on Saturday?" in transcript
        assert "We open at nine on Saturday." in transcript
        assert "answered in 912 ms" in transcript
        page.fill("#q", "nothing like this")
        page.wait_for_selector(f"tr[data-id='{call}']", state="detached")
        page.set_viewport_size({"width": 390, "height": 844})  # a phone screen
        page.fill("#q", "")
        page.wait_for_selector(f"tr[data-id='{call}']")
        page.screenshot(path=str(artifacts / "calls-page-phone.png"), full_page=True)
        page.fill("#key", "msk_wrong_key")
        page.click("#key-form button")
        page.wait_for_selector("#error:has-text('401')")
