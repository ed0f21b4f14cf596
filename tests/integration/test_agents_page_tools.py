"""The agents page does not edit HTTP tools, and saving an agent there keeps them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, ServerConfig
from tests.browser import chromium, serving

pytestmark = pytest.mark.integration

LOOKUP = {
    "name": "lookup_order",
    "description": "Look up an order.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
    "url": "https://shop.example.com/order",
    "method": "GET",
    "headers": {"Authorization": "Bearer ${SHOP_TOKEN}"},
    "timeout_seconds": 5.0,
}


def test_saving_an_agent_on_the_page_keeps_its_tools(tmp_path: Path) -> None:
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}"),
    )
    plane = control_plane(config)
    admin = plane.store.create_key("admin")
    plane.store.put_agent("shop", {"tools": ["transfer", LOOKUP, {"name": "end_call"}]})
    app = create_http_app(config, plane, dict)
    with serving(app) as base, chromium() as browser:
        page = browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{base}/ui/agents.html")
        page.fill("#key", admin)
        page.click("#key-form button")
        page.click("tr[data-name=shop]")
        page.wait_for_selector("#editor-title:has-text('shop')")
        page.fill("#f-greeting", "Acme Shop, how can I help?")
        page.click("#save")
        page.wait_for_selector("#notice:has-text('version 2')")
    stored = plane.store.get_agent("shop")
    assert stored is not None
    assert stored["spec"]["greeting"] == "Acme Shop, how can I help?"
    tools = stored["spec"]["tools"]
    assert "transfer" in tools
    assert [t["name"] for t in tools if isinstance(t, dict)] == ["lookup_order", "end_call"]
    assert problems == []
