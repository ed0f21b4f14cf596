"""The campaigns page in headless Chromium on a real `mediaserver serve` with
pjsua2 callees (tests/sip_callees.py): an admin creates a campaign through the
form (a bad field shows the API's reason beside it), uploads leads with one
bad row (the report names its line and why), starts it, watches its progress
move as callees refuse, opens a lead's attempts (linked to their call records)
and pauses it; a viewer sees the list and the progress but no controls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import chromium
from tests.integration.test_campaigns import callees
from tests.server import start_server, stop_server

pytestmark = pytest.mark.integration

REJECTS, DECLINES, BUSY = "+14155550401", "+14155550402", "+14155550403"


@pytest.fixture
def callee_port() -> Iterator[int]:
    proc, port = callees({REJECTS: 603, DECLINES: 603, BUSY: 486})
    yield port
    proc.kill()
    proc.wait(10)


def test_an_admin_runs_a_campaign_and_a_viewer_only_watches(
    tmp_path: Path, callee_port: int, artifacts: Path
) -> None:
    server = start_server(tmp_path, sip_config=f'trunk_host = "127.0.0.1:{callee_port}"')
    base = f"http://127.0.0.1:{server.http_port}"
    viewer = server.cli("keys", "create", "--role", "viewer")
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{base}/ui/campaigns.html")
            assert page.get_attribute("nav a[aria-current=page]", "href") == "/ui/campaigns.html"
            page.fill("#key", server.key)
            page.keyboard.press("Enter")
            page.wait_for_selector("#who:has-text('admin')")
            page.wait_for_selector("tr.empty:has-text('No campaigns yet')")
            assert page.is_hidden("#error")  # "Enter an API key" is gone once signed in

            # the form, from the keyboard; a time zone the API does not know
            page.focus("#new-campaign")
            page.keyboard.press("Enter")
            page.wait_for_selector("#editor:visible")
            assert page.evaluate("document.activeElement.id") == "c-name"
            page.keyboard.type("spring reminders")
            page.fill("#c-timezone", "Mars/Base")
            for day in ("sat", "sun"):
                page.check(f"input[name=day][value={day}]")
            page.fill("#c-schedule-start", "00:00")
            page.fill("#c-schedule-end", "24:00")
            page.fill("#c-max_attempts", "2")
            page.fill("#c-ring_seconds", "4")
            page.fill("#c-retry_seconds-busy", "3600")  # the busy lead waits: still running
            page.click("#create")
            page.wait_for_selector("#form-errors:visible")
            reasons = page.inner_text("#form-errors")
            assert "Time zone of leads that name none: unknown time zone 'Mars/Base'" in reasons
            assert page.get_attribute("#c-timezone", "aria-invalid") == "true"
            assert page.evaluate("document.activeElement.id") == "c-timezone"
            assert server.api("/campaigns").json()["total"] == 0  # nothing stored
            page.screenshot(path=str(artifacts / "campaigns-form-refused.png"), full_page=True)

            page.fill("#c-timezone", "UTC")
            page.click("#create")
            page.wait_for_selector("#notice:has-text('Created spring reminders')")
            assert page.is_hidden("#form-errors") and page.is_hidden("#editor")
            page.wait_for_selector("#campaign-title:has-text('spring reminders: draft')")
            stored = server.api("/campaigns").json()["items"][0]
            assert len(stored["spec"]["schedule"]["days"]) == 7
            assert stored["spec"]["retry_seconds"]["busy"] == 3600
            assert stored["spec"]["max_attempts"] == 2
            campaign_id = stored["id"]
            assert page.is_disabled("#pause") and page.is_disabled("#resume")
            assert page.is_enabled("#start") and page.is_enabled("#stop")

            rows = f"phone,name\n{REJECTS},Ann\nnot-a-number,Bob\n{DECLINES},Cy\n{BUSY},Dee\n"
            csv = {"name": "leads.csv", "mimeType": "text/csv", "buffer": rows.encode()}
            page.set_input_files("#leads-file", csv)
            page.click("#upload")
            page.wait_for_selector("#import-report:has-text('Imported 3 leads; 1 row was refused')")
            assert page.inner_text("#import-errors tbody td:first-child") == "3"
            assert "not-a-number" in page.inner_text("#import-errors tbody td:nth-child(2)")
            page.wait_for_selector("#leads tbody tr:nth-child(3)")
            assert page.inner_text("#campaign-done") == "0 of 3 leads done"

            page.click("#start")
            page.wait_for_selector("#notice:has-text('Started spring reminders')")
            # the poll moves the progress as the callees refuse
            page.wait_for_selector("#campaign-done:has-text('2 of 3 leads done')", timeout=60_000)
            page.wait_for_selector(f"#campaigns tr[data-id='{campaign_id}']:has-text('2 of 3')")
            assert "Rejected: 2" in page.inner_text("#campaign-counts")
            assert page.is_enabled("#pause") and page.is_disabled("#start")

            page.select_option("#lead-state", "rejected")
            page.wait_for_function("document.querySelectorAll('#leads tbody tr').length === 2")
            page.focus(f"#leads tr:has-text('{REJECTS}')")
            page.keyboard.press("Enter")
            page.wait_for_selector("#attempts tbody tr td:has-text('Rejected')")
            link = page.get_attribute("#attempts tbody a", "href")
            lead = server.api(f"/campaigns/{campaign_id}/leads?state=rejected").json()["items"]
            call_id = next(item["call_id"] for item in lead if item["phone"] == REJECTS)
            assert link == f"/ui/calls.html#call={call_id}"
            assert "603" in page.inner_text("#attempts tbody")

            page.click("#pause")
            page.wait_for_selector("#campaign-title:has-text('spring reminders: paused')")
            assert server.api(f"/campaigns/{campaign_id}").json()["state"] == "paused"
            assert page.is_enabled("#resume") and page.is_disabled("#pause")
            page.screenshot(path=str(artifacts / "campaigns-admin.png"), full_page=True)

            # a paused campaign takes more leads; the table pages through them
            more = "phone\n" + "".join(f"+1415555{n:04d}\n" for n in range(600, 655))
            page.set_input_files(
                "#leads-file", {"name": "more.csv", "mimeType": "text/csv", "buffer": more.encode()}
            )
            page.click("#upload")
            page.wait_for_selector("#import-report:has-text('Imported 55 leads.')")
            page.wait_for_selector("#campaign-done:has-text('2 of 58 leads done')")
            page.select_option("#lead-state", "")
            page.wait_for_selector("#leads-count:has-text('1\u201350 of 58')")
            page.click("#leads-next")
            page.wait_for_selector("#leads-count:has-text('51\u201358 of 58')")
            assert page.is_disabled("#leads-next") and page.is_enabled("#leads-prev")
            page.select_option("#lead-state", "rejected")  # a filter starts at the first page
            page.wait_for_function("document.querySelectorAll('#leads tbody tr').length === 2")
            assert page.is_hidden("#lead-paging")

            # the attempt's link opens the call on the calls page
            page.click("#attempts tbody a")
            page.wait_for_url(f"**/ui/calls.html#call={call_id}")
            page.wait_for_selector("#detail:visible")
            page.goto(f"{base}/ui/campaigns.html")
            assert problems == [
                "Failed to load resource: the server responded with a status of 422 "
                "(Unprocessable Entity)"
            ], problems

            page.click("#sign-out")
            page.fill("#key", viewer)
            page.click("#key-form button")
            page.wait_for_selector("#who:has-text('viewer')")
            page.wait_for_selector("#error", state="hidden")
            page.wait_for_selector(f"#campaigns tr[data-id='{campaign_id}']:has-text('paused')")
            page.click(f"#campaigns tr[data-id='{campaign_id}']")
            page.wait_for_selector("#campaign-title:has-text('paused')")
            page.wait_for_selector("#leads tbody tr:nth-child(3)")
            for control in ("#new-campaign", "#start", "#pause", "#stop", "#upload-form"):
                assert page.is_hidden(control), control
            assert page.is_visible(".viewer-only") and page.is_visible("#campaign-progress")
            page.screenshot(path=str(artifacts / "campaigns-viewer.png"), full_page=True)
            assert len(problems) == 1, problems
    finally:
        stop_server(server)
