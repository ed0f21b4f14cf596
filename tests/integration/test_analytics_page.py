"""/analytics and its page: calls per day by agent, outcomes, voice-to-voice
p50/p95 per day and talk time, charted in headless Chromium."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, ServerConfig
from mediaserver.store import Store
from tests.browser import chromium, serving

pytestmark = pytest.mark.integration


def _call(store: Store, agent: str, start: datetime, seconds: float, reason: str) -> str:
    call = store.call_created(transport="sip", direction="inbound", agent=agent)
    store.update_call(
        call,
        created_at=start,
        answered_at=start + timedelta(seconds=1),
        ended_at=start + timedelta(seconds=1 + seconds),
        end_reason=reason,
    )
    return call


def test_analytics_are_counted_and_charted(tmp_path: Path, artifacts: Path) -> None:
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}"),
    )
    plane = control_plane(config)
    store = plane.store
    today = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    earlier = today - timedelta(days=2)
    old = _call(store, "bakery", earlier, 60, "caller_hangup")
    for ms in (800.0, 1000.0):
        store.add_turn(
            old, "agent", "Hello", start_s=1, end_s=2, timings_ms={"first_audio_out": ms}
        )
    recent = _call(store, "default", today, 30, "agent_hangup")
    store.add_turn(recent, "agent", "Hi", start_s=1, end_s=2, timings_ms={"first_audio_out": 600.0})
    _call(store, "default", today, 90, "caller_hangup")
    _call(store, "default", today - timedelta(days=60), 10, "caller_hangup")  # out of range
    key = store.create_key("viewer")
    app = create_http_app(config, plane, dict)
    with serving(app) as base:
        headers = {"Authorization": f"Bearer {key}"}
        figures = httpx.get(f"{base}/analytics", headers=headers).json()
        day, earlier_day = today.date().isoformat(), earlier.date().isoformat()
        assert figures["days"] == [
            {"day": earlier_day, "agent": "bakery", "calls": 1, "talk_seconds": 60.0},
            {"day": day, "agent": "default", "calls": 2, "talk_seconds": 120.0},
        ]
        assert figures["outcomes"] == {"caller_hangup": 2, "agent_hangup": 1}
        assert figures["voice_to_voice"] == [
            {"day": earlier_day, "turns": 2, "p50_ms": 800.0, "p95_ms": 1000.0},
            {"day": day, "turns": 1, "p50_ms": 600.0, "p95_ms": 600.0},
        ]
        only = httpx.get(f"{base}/analytics", params={"agent": "bakery"}, headers=headers)
        assert [d["agent"] for d in only.json()["days"]] == ["bakery"]
        backwards = httpx.get(
            f"{base}/analytics",
            params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
            headers=headers,
        )
        assert backwards.status_code == 400 and "before" in backwards.json()["detail"]
        naive = httpx.get(
            f"{base}/analytics", params={"since": "2026-01-01T00:00"}, headers=headers
        )
        assert naive.status_code == 400 and "time zone" in naive.json()["detail"]

        with chromium() as browser:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{base}/ui/analytics.html")
            page.fill("#key", key)
            page.click("#key-form button")
            page.wait_for_selector("#calls-chart rect.bar")
            assert page.locator("#calls-chart rect.bar").count() == 2
            assert page.locator("#v2v-chart circle.point").count() == 4  # p50 and p95, 2 days
            assert "bakery" in page.inner_text("#calls-chart .legend")
            outcomes = page.inner_text("#outcomes")
            assert "Caller hung up\t2" in outcomes and "Agent hung up\t1" in outcomes
            page.screenshot(path=str(artifacts / "analytics.png"), full_page=True)
            page.fill("#agent", "nobody")
            page.wait_for_selector("#calls-chart:has-text('No calls in this range')")
            assert problems == []
