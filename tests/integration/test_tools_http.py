"""The HTTP tool runner against a real tool server on loopback: signed
requests with the right arguments, secrets resolved only when calling, no
request to a private, loopback or link-local address unless allowed (by name,
by literal, by redirect), and every failure a status, never an exception."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mediaserver.netguard import networks
from mediaserver.tools.http import HttpTools, sign
from mediaserver.tools.spec import Tool, ToolResult
from tests.tool_server import ToolServer

pytestmark = pytest.mark.integration

SECRET = "agent-signing-key"
LOOPBACK = networks(("127.0.0.1/32",))


@pytest.fixture(scope="module")
def server() -> Iterator[ToolServer]:
    with ToolServer() as srv:
        yield srv


def run(
    tool: Tool,
    arguments: dict[str, Any],
    allowed: tuple[Any, ...] = LOOPBACK,
    secrets: dict[str, str] | None = None,
) -> ToolResult:
    async def main() -> ToolResult:
        runner = HttpTools(SECRET, allowed, secrets, call_id="call-1")
        try:
            return await runner.run(tool, arguments)
        finally:
            await runner.aclose()

    return asyncio.run(main())


def test_post_is_signed_and_carries_the_arguments(server: ToolServer) -> None:
    tool = Tool(
        "book",
        url=server.url("/book"),
        headers=(("Authorization", "Bearer ${CRM_TOKEN}"), ("X-Shop", "riverside")),
    )
    result = run(tool, {"name": "Ann", "day": "Monday"}, secrets={"CRM_TOKEN": "s3cret"})
    assert (result.status, json.loads(result.content)) == ("ok", {"booked": True, "time": "9 am"})
    got = server.script.received[-1]
    assert (got.method, got.path, json.loads(got.body)) == (
        "POST",
        "/book",
        {"name": "Ann", "day": "Monday"},
    )
    headers = got.headers
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["x-shop"] == "riverside"
    assert headers["x-mediaserver-tool"] == "book"
    assert headers["x-mediaserver-call"] == "call-1"
    timestamp = headers["x-mediaserver-timestamp"]
    assert headers["x-mediaserver-signature"] == sign(SECRET, timestamp, got.body)
    assert headers["x-mediaserver-signature"] != sign("another key", timestamp, got.body)


def test_get_sends_a_signed_query(server: ToolServer) -> None:
    tool = Tool("order", url=server.url("/order"), method="GET")
    result = run(tool, {"order_id": "1234"})
    assert json.loads(result.content) == {"order": "1234", "status": "shipped"}
    got = server.script.received[-1]
    assert (got.method, got.query, got.body) == ("GET", "order_id=1234", b"")
    signature = sign(SECRET, got.headers["x-mediaserver-timestamp"], got.query.encode())
    assert got.headers["x-mediaserver-signature"] == signature


def test_the_environment_holds_secrets_too(
    server: ToolServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_KEY", "from-env")
    tool = Tool("book", url=server.url("/book"), headers=(("X-Api-Key", "${SHOP_KEY}"),))
    assert run(tool, {}).status == "ok"
    assert server.script.received[-1].headers["x-api-key"] == "from-env"


def test_a_secret_set_nowhere_refuses_the_call(server: ToolServer) -> None:
    before = len(server.script.received)
    tool = Tool("book", url=server.url("/book"), headers=(("X-Api-Key", "${NOT_SET_ANYWHERE}"),))
    result = run(tool, {})
    assert result.status == "refused"
    assert "NOT_SET_ANYWHERE" in result.content
    assert len(server.script.received) == before


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/fail", "error", "HTTP 500"),
        ("/badjson", "error", "not JSON"),
        ("/big", "error", "larger than"),
        ("/nothing-here", "error", "HTTP 404"),
    ],
)
def test_failures_are_statuses(server: ToolServer, path: str, status: str, says: str) -> None:
    result = run(Tool("t", url=server.url(path)), {})
    assert result.status == status
    assert says in result.content


def test_a_slow_tool_times_out(server: ToolServer) -> None:
    result = run(Tool("t", url=server.url("/slow"), timeout_seconds=0.5), {})
    assert result.status == "timeout"
    assert result.latency_ms >= 500


def test_a_redirect_is_never_followed(server: ToolServer) -> None:
    server.script.redirect_to = server.url("/book")  # even to an allowed host
    before = len(server.script.received)
    result = run(Tool("t", url=server.url("/redirect")), {})
    assert result.status == "refused"
    assert "redirect" in result.content
    assert [r.path for r in server.script.received[before:]] == ["/redirect"]


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",  # a name that resolves to loopback
        "169.254.169.254",  # cloud metadata
        "10.1.2.3",
        "192.168.0.10",
        "100.64.0.1",  # carrier-grade NAT
        "[::1]",
        "[::ffff:127.0.0.1]",  # IPv4-mapped loopback
        "[fe80::1]",
        "0.0.0.0",
    ],
)
def test_private_addresses_are_refused_unless_allowed(server: ToolServer, host: str) -> None:
    before = len(server.script.received)
    result = run(Tool("t", url=server.url("/book", host), timeout_seconds=2), {}, allowed=())
    assert result.status == "refused", result
    assert len(server.script.received) == before


def test_an_allowed_network_opens_a_name_too(server: ToolServer) -> None:
    result = run(Tool("t", url=server.url("/book", "localhost")), {}, allowed=LOOPBACK)
    assert result.status == "ok", result
    assert server.script.received[-1].headers["host"] == f"localhost:{server.port}"


def test_a_host_that_does_not_resolve_is_refused() -> None:
    result = run(Tool("t", url="http://no-such-host.invalid/book"), {})
    assert result.status == "refused"
