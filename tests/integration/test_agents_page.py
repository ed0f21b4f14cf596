"""The agents page in headless Chromium: an admin creates an agent, edits it,
compares and restores a version, and calls it; a viewer reads it without
edit controls, and a refusal (a page that thought it was admin's) reads well."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, ServerConfig
from tests.browser import chromium, serving

pytestmark = pytest.mark.integration


def test_an_admin_creates_edits_versions_and_calls_an_agent(
    tmp_path: Path, artifacts: Path
) -> None:
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}"),
    )
    plane = control_plane(config)
    admin = plane.store.create_key("admin")
    viewer = plane.store.create_key("viewer")
    app = create_http_app(config, plane, dict)
    with serving(app) as base, chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{base}/ui/agents.html")
        page.fill("#key", admin)
        page.click("#key-form button")
        page.wait_for_selector("tr.empty:has-text('No agents yet')")
        page.wait_for_selector("#who:has-text('admin')")
        assert page.is_hidden(".viewer-only")

        page.click("#new-agent")
        page.wait_for_selector("#editor:visible")
        assert page.input_value("#f-max_turns")  # the API's defaults fill the form
        page.fill("#f-name", "bakery")
        page.fill("#f-system_prompt", "You take bread orders for the Corner Bakery.")
        page.fill("#f-greeting", "Corner Bakery, what can I bake for you?")
        page.fill("#f-languages", "en, de")
        page.fill("#f-transfer_target", "sip:counter@127.0.0.1")
        page.click("#add-option")
        page.fill("#menu li:nth-child(1) [name=digit]", "1")
        page.fill("#menu li:nth-child(1) [name=language]", "de")
        page.fill("#menu li:nth-child(1) [name=greeting]", "Bäckerei am Eck, was darf es sein?")
        page.click("#save")
        page.wait_for_selector("#notice:has-text('Saved bakery as version 1')")
        assert page.inner_text("tr[data-name=bakery]").split("\t")[:3] == ["bakery", "v1", "en, de"]
        stored = plane.store.get_agent("bakery")
        assert stored is not None
        assert stored["spec"]["ivr_menu"][0]["greeting"] == "Bäckerei am Eck, was darf es sein?"
        assert stored["spec"]["transfer_target"] == "sip:counter@127.0.0.1"

        page.fill("#f-greeting", "Corner Bakery, good morning!")
        page.uncheck("#f-record")
        page.click("#save")
        page.wait_for_selector("#notice:has-text('version 2')")
        page.select_option("#versions", "1")
        page.wait_for_selector("#diff:has-text('greeting')")
        diff = page.inner_text("#diff")
        assert "Corner Bakery, what can I bake for you?" in diff and "record" in diff
        assert page.is_disabled("#f-greeting")
        page.screenshot(path=str(artifacts / "agents-version-diff.png"), full_page=True)
        page.click("#restore")
        page.wait_for_selector("#notice:has-text('version 3')")
        restored = plane.store.get_agent("bakery")
        assert restored is not None
        assert restored["spec"]["greeting"] == "Corner Bakery, what can I bake for you?"
        assert restored["spec"]["record"] is True

        with context.expect_page() as opened:
            page.click("#call-agent")
        phone = opened.value
        phone.wait_for_function("document.getElementById('token').value.length > 20")
        assert "token=" not in phone.url
        phone.close()
        page.screenshot(path=str(artifacts / "agents-page.png"), full_page=True)
        assert problems == []

        page.click("#sign-out")
        page.fill("#key", viewer)
        page.click("#key-form button")
        page.wait_for_selector("#who:has-text('viewer')")
        page.click("tr[data-name=bakery]")
        page.wait_for_selector("#editor-title:has-text('bakery')")
        assert page.input_value("#f-greeting") == "Corner Bakery, what can I bake for you?"
        assert page.is_disabled("#f-greeting") and page.is_disabled("#f-record")
        for control in ("#new-agent", "#save", "#call-agent", "#add-option", "#restore"):
            assert page.is_hidden(control), control
        assert page.is_visible(".viewer-only")
        page.select_option("#versions", "2")  # versions and their differences are for all
        page.wait_for_selector("#diff:has-text('greeting')")
        assert page.is_hidden("#restore")
        page.screenshot(path=str(artifacts / "agents-viewer.png"), full_page=True)

        # a page that believes it is an admin's: the server refuses, readably
        page.evaluate("document.body.dataset.role = 'admin'")
        page.click("#new-agent")
        page.fill("#f-name", "viewers-own")
        page.click("#save")
        page.wait_for_selector("#error:has-text('needs an admin key')")
        assert "403" not in page.inner_text("#error")
        assert plane.store.get_agent("viewers-own") is None
        page.screenshot(path=str(artifacts / "agents-viewer-refused.png"), full_page=True)
        assert problems == [
            "Failed to load resource: the server responded with a status of 403 (Forbidden)"
        ]
        context.close()
