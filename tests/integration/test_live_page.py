"""The live page in headless Chromium: a viewer watches a call in progress
without a Hang up button; an admin has one (its use: test_webrtc's operator
test, with a real call)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, ServerConfig
from tests.browser import chromium, serving

pytestmark = pytest.mark.integration


def test_only_an_admin_sees_hang_up(tmp_path: Path, artifacts: Path) -> None:
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}"),
    )
    plane = control_plane(config)
    live = plane.store.call_created(transport="webrtc", direction="inbound", agent="default")
    plane.store.add_turn(live, "agent", "Hello, how can I help?", start_s=0.5, end_s=2)
    viewer, admin = plane.store.create_key("viewer"), plane.store.create_key("admin")
    app = create_http_app(config, plane, dict)
    with serving(app) as base, chromium() as browser:
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{base}/ui/live.html#key={viewer}")
        page.wait_for_selector(f"article[data-id='{live}'] li.agent:has-text('help')")
        page.wait_for_selector("#who:has-text('viewer')")
        assert page.is_hidden(f"article[data-id='{live}'] button.danger")
        page.screenshot(path=str(artifacts / "live-viewer.png"), full_page=True)

        page.click("#sign-out")
        page.fill("#key", admin)
        page.click("#key-form button")
        page.wait_for_selector(f"article[data-id='{live}'] button.danger:visible")
        assert "admin" in page.inner_text("#who")
        page.screenshot(path=str(artifacts / "live-admin.png"), full_page=True)
        assert problems == []
