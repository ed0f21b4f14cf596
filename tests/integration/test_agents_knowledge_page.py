"""The agents page's HTTP tools and knowledge base in headless Chromium, on a
server with the real embedding model: an admin edits the tools as JSON (a
syntax error beside the field, the API's refusal readable, a valid tool
saved), uploads a document that becomes ready, sees an empty file refused
with its reason, and deletes the document."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from mediaserver.agents import Agent, AgentBook
from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, KnowledgeConfig, ServerConfig
from mediaserver.knowledge.wiring import knowledge_base
from tests.browser import chromium, serving

pytestmark = pytest.mark.integration

TOOL = {
    "name": "book_visit",
    "description": "Book a visit for the caller.",
    "parameters": {"type": "object", "properties": {"day": {"type": "string"}}},
    "url": "https://clinic.example/visits",
    "method": "POST",
    "headers": {"Authorization": "Bearer ${CLINIC_TOKEN}"},
    "timeout_seconds": 4.0,
}


def test_an_admin_edits_tools_and_the_knowledge_base(tmp_path: Path, artifacts: Path) -> None:
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}"),
        knowledge=KnowledgeConfig(max_upload_mb=1),
    )
    plane = control_plane(config)
    book = AgentBook(Agent(), plane.store)
    ingest, index = asyncio.run(knowledge_base(config, plane.store, book))
    app = create_http_app(config, plane, dict, knowledge=(ingest, book))
    admin = plane.store.create_key("admin")
    auth = {"Authorization": f"Bearer {admin}"}
    try:
        with serving(app) as base, chromium() as browser:
            created = httpx.post(
                f"{base}/agents",
                headers=auth,
                json={"name": "clinic", "system_prompt": "You answer for Riverside Dental."},
            )
            assert created.status_code in (200, 201), created.text
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(f"{base}/ui/agents.html")
            page.fill("#key", admin)
            page.click("#key-form button")
            page.click("tr[data-name=clinic]")
            page.wait_for_selector("#knowledge:visible tr.empty:has-text('No documents yet')")
            assert page.input_value("#f-http_tools") == ""

            # a JSON syntax error: shown beside the field, nothing sent
            page.fill("#f-http_tools", '[{"name": "book_visit",')
            page.click("#save")
            page.wait_for_selector("#tools-error:has-text('not valid JSON')")
            assert page.get_attribute("#f-http_tools", "aria-invalid") == "true"
            assert httpx.get(f"{base}/agents/clinic", headers=auth).json()["version"] == 1

            # valid JSON the API refuses: its reason, readably
            page.fill("#f-http_tools", json.dumps([{**TOOL, "url": "ftp://clinic.example/"}]))
            page.click("#save")
            page.wait_for_selector("#error:has-text('expected an http:// or https:// URL')")
            assert page.is_hidden("#tools-error")
            refusal = page.inner_text("#error")
            assert refusal.startswith("tools.2: tool 'book_visit': url:"), refusal
            assert "literal" not in refusal and "ToolSpec" not in refusal

            page.fill("#f-http_tools", json.dumps([TOOL]))
            page.uncheck("input[name=tool][value=hangup]")
            page.click("#save")
            page.wait_for_selector("#notice:has-text('version 2')")
            saved = httpx.get(f"{base}/agents/clinic", headers=auth).json()
            assert saved["spec"]["tools"] == ["transfer", TOOL]
            assert json.loads(page.input_value("#f-http_tools")) == [TOOL]

            # the knowledge base: a document becomes ready, an empty one is refused
            page.set_input_files(
                "#doc-file",
                files=[
                    {
                        "name": "clinic.txt",
                        "mimeType": "text/plain",
                        "buffer": b"Parking is free in the yard behind the clinic. " * 20,
                    }
                ],
            )
            page.click("#upload-doc")
            page.wait_for_selector("tr[data-status=ready]:has-text('clinic.txt')", timeout=120_000)
            row = page.inner_text("tr[data-status=ready]").split("\t")
            assert row[:2] == ["clinic.txt", "ready"] and int(row[2]) >= 1 and row[3] == "940 B"
            page.set_input_files(
                "#doc-file", files=[{"name": "empty.txt", "mimeType": "text/plain", "buffer": b""}]
            )
            page.click("#upload-doc")
            page.wait_for_selector("#kb-error:has-text('empty.txt: the file is empty')")
            assert page.locator("#documents tbody tr").count() == 1
            page.screenshot(path=str(artifacts / "agents-knowledge.png"), full_page=True)

            page.click("button[aria-label='Delete clinic.txt']")
            page.wait_for_selector("#documents tr.empty:has-text('No documents yet')")
            assert httpx.get(f"{base}/agents/clinic/documents", headers=auth).json() == []
            unprocessable = (
                "Failed to load resource: the server responded with a status of "
                "422 (Unprocessable Entity)"
            )
            assert problems == [unprocessable, unprocessable]
    finally:
        index.close()
        plane.close()
