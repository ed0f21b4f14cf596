"""Agents with tools in `mediaserver serve`, called over SIP by a spoken
caller. The models are a scripted OpenAI-compatible stub (the test is about
the pipeline: the stub's LLM asks for the tool, the answer is spoken); the
business's tool is a real HTTP server on loopback that checks the signature.
Also: the agent API validates tools and never stores a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediaserver.tools.http import sign
from tests.integration.test_remote_calls import agent_texts, call, outcome, questions_wav
from tests.openai_stub import StubServer
from tests.server import Server, start_server, stop_server
from tests.tool_server import ToolServer

pytestmark = pytest.mark.integration

BOOKING = "I would like to book a check up on Monday my name is Ann"
APOLOGY = "Sorry, I couldn't do that just now."


def tool_call(name: str, arguments: dict[str, Any]) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def book_tool(url: str, name: str = "book_appointment") -> dict[str, Any]:
    return {
        "name": name,
        "description": "Book a dental appointment.",
        "parameters": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "day": {"type": "string"}},
            "required": ["name", "day"],
        },
        "url": url,
        "headers": {"Authorization": "Bearer ${CRM_TOKEN}"},
        "timeout_seconds": 5,
    }


@pytest.fixture(scope="module")
def tools() -> Iterator[ToolServer]:
    with ToolServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer() as srv:
        srv.script.transcript = BOOKING
        yield srv


@pytest.fixture(scope="module")
def server(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("tools")
    config = (
        f'[models]\nbackend = "remote"\nurl = "{stub.url}"\ntimeout_seconds = 10\n'
        '[tools]\nallow = ["127.0.0.1/32"]\n[tools.secrets]\nCRM_TOKEN = "s3cret-token"\n'
    )
    srv = start_server(tmp, config)
    try:
        yield srv
    finally:
        stop_server(srv)


def put_agent(server: Server, tools: list[Any]) -> None:
    response = server.post("/agents", {"name": "default", "tools": tools})
    if response.status_code == 409:
        response = httpx_put(server, "/agents/default", {"tools": tools})
    assert response.status_code in (200, 201), response.text


def httpx_put(server: Server, path: str, body: object) -> Any:
    import httpx

    return httpx.put(
        f"http://127.0.0.1:{server.http_port}{path}",
        json=body,
        headers={"Authorization": f"Bearer {server.key}"},
        timeout=30,
    )


def test_a_spoken_booking_calls_the_signed_tool_and_speaks_its_answer(
    server: Server, stub: StubServer, tools: ToolServer, tmp_path: Path
) -> None:
    put_agent(server, [book_tool(tools.url("/book")), {"name": "end_call"}])
    stub.script.answers = [
        tool_call("book_appointment", {"name": "Ann", "day": "Monday"}),
        "You are booked for Monday at 9 am.",
    ]
    before = len(tools.script.received)
    seconds = 16.0
    result = outcome(
        call(server, questions_wav(tmp_path, [(5.0, BOOKING)], seconds), seconds), seconds
    )
    assert result["connected"], result
    record = server.newest_call()
    # the business's server got one signed call with the caller's details
    [got] = tools.script.received[before:]
    assert json.loads(got.body) == {"name": "Ann", "day": "Monday"}
    assert got.headers["authorization"] == "Bearer s3cret-token"
    secret = server.post("/agents/default/tool-secret", {}).json()["secret"]
    stamp = got.headers["x-mediaserver-timestamp"]
    assert got.headers["x-mediaserver-signature"] == sign(secret, stamp, got.body)
    assert got.headers["x-mediaserver-call"] == record["id"]
    # the LLM was offered the tools (OpenAI `tools`) and saw the tool's answer
    first, second = stub.script.chats[-2:]
    assert [t["function"]["name"] for t in first["tools"]] == ["book_appointment", "end_call"]
    assert second["messages"][-1] == {"role": "tool", "content": '{"booked":true,"time":"9 am"}'}
    # spoken, never the JSON; recorded on the call
    said = " ".join(agent_texts(server))
    assert "You are booked for Monday at 9 am." in said
    assert "{" not in said
    [recorded] = record["tool_calls"]
    assert (recorded["name"], recorded["status"]) == ("book_appointment", "ok")
    assert json.loads(recorded["arguments"]) == {"day": "Monday", "name": "Ann"}
    assert recorded["latency_ms"] > 0
    assert any(
        e["kind"] == "tool" and e["value"].startswith("book_appointment ok")
        for e in record["events"]
    )


def test_a_slow_tool_gets_the_filler_and_a_failing_one_an_apology(
    server: Server, stub: StubServer, tools: ToolServer, tmp_path: Path
) -> None:
    put_agent(
        server, [book_tool(tools.url("/slow")), book_tool(tools.url("/fail"), "check_insurance")]
    )
    tools.script.slow_seconds = 2.0
    stub.script.answers = [
        tool_call("book_appointment", {"name": "Ann", "day": "Monday"}),
        "Booked for Monday at 10 am.",
        tool_call("check_insurance", {"name": "Ann", "day": "Monday"}),
        "unused",
    ]
    seconds = 28.0
    wav = questions_wav(tmp_path, [(5.0, BOOKING), (16.0, BOOKING)], seconds)
    result = outcome(call(server, wav, seconds), seconds)
    assert result["connected"], result
    record = server.newest_call()
    said = agent_texts(server)
    joined = " ".join(said)
    assert "One moment, let me check." in joined
    assert joined.index("One moment, let me check.") < joined.index("Booked for Monday at 10 am.")
    assert APOLOGY in joined
    assert record["end_reason"] == "caller_hangup"  # the call went on after the failure
    statuses = [(t["name"], t["status"]) for t in record["tool_calls"]]
    assert statuses == [("book_appointment", "ok"), ("check_insurance", "error")]


def test_send_dtmf_presses_keys_the_caller_receives(
    server: Server, stub: StubServer, tmp_path: Path
) -> None:
    """An agent in another company's phone menu presses keys: real RFC 2833
    events through pjsua2's dialDtmf, received by the far end."""
    put_agent(server, [{"name": "send_dtmf"}])
    stub.script.answers = [tool_call("send_dtmf", {"digits": "1#"})]
    seconds = 14.0
    wav = questions_wav(tmp_path, [(5.0, "For sales press one")], seconds)
    result = outcome(call(server, wav, seconds), seconds)
    assert result["digits_received"] == "1#", result
    record = server.newest_call()
    assert any(e["kind"] == "dtmf_sent" and e["value"] == "1#" for e in record["events"])


def test_secrets_are_stored_by_name_and_bad_tools_refused(
    server: Server, tools: ToolServer
) -> None:
    put_agent(server, [book_tool(tools.url("/book"))])
    stored = server.api("/agents/default").json()["spec"]["tools"][0]
    assert stored["headers"] == {"Authorization": "Bearer ${CRM_TOKEN}"}
    assert "s3cret-token" not in server.api("/agents").text
    bad = {
        "a bare secret": {
            **book_tool(tools.url("/book")),
            "headers": {"Authorization": "Bearer abc"},
        },
        "a bad schema": {**book_tool(tools.url("/book")), "parameters": {"type": "objekt"}},
        "required not a property": {
            **book_tool(tools.url("/book")),
            "parameters": {"type": "object", "properties": {}, "required": ["day"]},
        },
        "a bad URL": {**book_tool("ftp://example.com/x")},
        "no URL": {**book_tool(""), "name": "lookup"},
        "a built-in's name": {**book_tool(tools.url("/book")), "name": "end_call"},
        "credentials in the URL": {**book_tool("http://user:pw@example.com/book")},
        "a bad name": {**book_tool(tools.url("/book")), "name": "book me"},
    }
    for why, tool in bad.items():
        response = server.post("/agents", {"name": "bad-tools", "tools": [tool]})
        assert response.status_code == 422, (why, response.text)
        put = httpx_put(server, "/agents/default", {"tools": [tool]})
        assert put.status_code == 422, (why, put.text)
    assert server.api("/agents/bad-tools").status_code == 404
    # nothing half-stored: the agent is as it was
    assert server.api("/agents/default").json()["spec"]["tools"][0]["url"] == tools.url("/book")
    reason = server.post("/agents", {"name": "bad-tools", "tools": [bad["a bare secret"]]}).text
    assert "${SECRET_NAME}" in reason
