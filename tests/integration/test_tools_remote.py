"""The remote adapter and tool calls: the OpenAI `tools` field goes out, and
a call a server parsed out of the text (llama-server --jinja, vLLM stream it
as `delta.tool_calls` fragments) comes back as the text the tool round reads."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from mediaserver.config import ModelsConfig
from mediaserver.conversation.tool_round import ToolRound
from mediaserver.events import CallEvent, ToolCall
from mediaserver.services.remote import RemoteSpeech
from mediaserver.tools.spec import Tool, ToolResult
from tests.openai_stub import Script, StubServer

pytestmark = pytest.mark.integration

ORDER = Tool(
    "lookup_order",
    "Look up an order.",
    {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    url="http://127.0.0.1:9/order",
)


class Runner:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    async def run(self, tool: Tool, arguments: dict[str, object]) -> ToolResult:
        self.calls.append(arguments)
        return ToolResult("ok", '{"status": "shipped"}')


def test_a_streamed_structured_tool_call_is_run() -> None:
    script = Script(chat="tool_calls")
    script.answers = [
        json.dumps({"name": "lookup_order", "arguments": {"order_id": "1234"}}),
        "It has shipped.",
    ]
    runner, events = Runner(), list[CallEvent]()
    with StubServer(script) as stub:

        async def main() -> str:
            config = ModelsConfig(backend="remote", url=stub.url, timeout_seconds=10)
            async with httpx.AsyncClient(timeout=10) as client:
                speech = RemoteSpeech(config, client)
                round_ = ToolRound(speech, (ORDER,), runner, lambda t, a: None, events.append)
                messages = [{"role": "user", "content": "Where is order 1234?"}]
                return "".join([p async for p in round_.pieces(messages, 40, 0.0)])

        said = asyncio.run(main())
    assert runner.calls == [{"order_id": "1234"}]
    assert [e.status for e in events if isinstance(e, ToolCall)] == ["ok"]
    sent = script.chats[0]
    assert sent["tools"][0]["function"]["name"] == "lookup_order"
    assert script.chats[1]["messages"][-1] == {"role": "tool", "content": '{"status": "shipped"}'}
    assert said.strip() == "It has shipped."
