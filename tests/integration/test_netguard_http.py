"""The shared SSRF guard's transport against a real HTTP server on loopback:
webhooks and HTTP tools connect to the very address the guard checked (a
name that resolves elsewhere the second time, DNS rebinding, changes
nothing), keep the name for Host, and never follow a redirect."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediaserver.netguard import NetGuard, networks
from mediaserver.store import Store
from mediaserver.store.outbox import OutboxStore
from mediaserver.tools.http import HttpTools
from mediaserver.tools.spec import Tool
from mediaserver.webhooks.delivery import Deliverer, RetryPolicy
from tests.tool_server import ToolServer

pytestmark = pytest.mark.integration

NAME = "rebind.example"  # resolves to loopback the first time, then to a private address


@pytest.fixture(scope="module")
def server() -> Iterator[ToolServer]:
    with ToolServer() as srv:
        yield srv


@pytest.fixture()
def rows(tmp_path: Path) -> OutboxStore:
    return OutboxStore(Store.open(f"sqlite:///{tmp_path / 'store.db'}").engine)


@pytest.fixture()
def rebinding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """NAME's answers, as a rebinding DNS server gives them: the first lookup
    127.0.0.1 (allowed, checked), every later one 10.255.255.1; other names
    as usual. Returns the lookups of NAME."""
    lookups: list[str] = []
    real = asyncio.BaseEventLoop.getaddrinfo

    async def getaddrinfo(self: Any, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return await real(self, host, port, *args, **kwargs)
        address = "127.0.0.1" if not lookups else "10.255.255.1"
        lookups.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 80)))]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    return lookups


def test_a_tool_is_called_at_the_address_that_was_checked(
    server: ToolServer, rebinding: list[str]
) -> None:
    async def main() -> Any:
        runner = HttpTools("key", networks(("127.0.0.1/32",)))
        try:
            return await runner.run(Tool("t", url=server.url("/book", NAME), timeout_seconds=3), {})
        finally:
            await runner.aclose()

    result = asyncio.run(main())
    assert result.status == "ok", result
    assert rebinding == ["127.0.0.1"]  # resolved once: by the guard
    assert server.script.received[-1].headers["host"] == f"{NAME}:{server.port}"


def test_a_webhook_is_delivered_at_the_address_that_was_checked(
    server: ToolServer, rebinding: list[str], rows: OutboxStore
) -> None:
    async def main() -> Any:
        deliverer = Deliverer(rows, guard(), RetryPolicy())
        return await deliverer.send(server.url("/book", NAME), b"{}", {"X-Test": "1"})

    before = len(server.script.received)
    outcome = asyncio.run(main())
    assert outcome.error is None, outcome
    assert rebinding == ["127.0.0.1"]
    [received] = server.script.received[before:]
    assert received.headers["host"] == f"{NAME}:{server.port}"


def test_a_webhook_to_a_refused_address_is_never_sent(
    server: ToolServer, rows: OutboxStore
) -> None:
    async def main() -> Any:
        deliverer = Deliverer(rows, NetGuard(), RetryPolicy())
        return await deliverer.send(server.url("/book"), b"{}", {})

    before = len(server.script.received)
    outcome = asyncio.run(main())
    assert outcome.status is None and "loopback" in (outcome.error or "")
    assert len(server.script.received) == before


def test_a_webhook_redirect_is_not_followed(server: ToolServer, rows: OutboxStore) -> None:
    server.script.redirect_to = server.url("/book")  # even to an allowed address

    async def main() -> Any:
        deliverer = Deliverer(rows, guard(), RetryPolicy())
        return await deliverer.send(server.url("/redirect"), b"{}", {})

    before = len(server.script.received)
    outcome = asyncio.run(main())
    assert (outcome.status, outcome.error) == (302, "HTTP 302")
    assert [r.path for r in server.script.received[before:]] == ["/redirect"]


def guard() -> NetGuard:
    return NetGuard(["127.0.0.1/32"], setting="[webhooks] allow")
