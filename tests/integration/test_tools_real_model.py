"""The real bundled LLM (Qwen2.5 0.5B through llama.cpp, its GGUF chat
template rendering the tools) asked a clear question it handles: it calls the
tool, the real tool server gets the signed request with the right argument,
and nothing of the call is spoken."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from mediaserver.agents import DEFAULT_AGENT
from mediaserver.conversation.tool_round import ToolRound
from mediaserver.events import CallEvent, ToolCall
from mediaserver.netguard import networks
from mediaserver.services.local import LocalSpeech
from mediaserver.tools.http import HttpTools, sign
from mediaserver.tools.spec import Tool
from models import registry, store
from models.llm import LlamaLLM
from tests.tool_server import ToolServer

pytestmark = pytest.mark.integration

SYSTEM = (
    "You are Sam, the assistant at Acme Shop, answering the phone. "
    "Reply in one short spoken sentence."
)


@pytest.fixture(scope="module")
def tools() -> Iterator[ToolServer]:
    with ToolServer() as srv:
        yield srv


def test_the_real_model_looks_up_an_order(tools: ToolServer) -> None:
    path = store.locate(registry.by_name(DEFAULT_AGENT.llm_model)) / "model.gguf"
    llm = LlamaLLM(path, threads=2)
    speech = LocalSpeech(None, llm, None)  # type: ignore[arg-type]  # the LLM alone answers here
    lookup = Tool(
        "lookup_order",
        "Look up the status of a customer's order by its number.",
        {
            "type": "object",
            "properties": {"order_id": {"type": "string", "description": "the order number"}},
            "required": ["order_id"],
        },
        url=tools.url("/order"),
        method="GET",
    )
    events: list[CallEvent] = []

    async def main() -> str:
        runner = HttpTools("real-model-key", networks(("127.0.0.1/32",)))
        try:
            round_ = ToolRound(speech, (lookup,), runner, lambda tool, args: None, events.append)
            messages: list[dict[str, str]] = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": "Hi, can you look up order 1234 for me?"},
            ]
            return "".join([p async for p in round_.pieces(messages, 60, 0.0)])
        finally:
            await runner.aclose()
            speech.close()

    spoken = asyncio.run(main())
    got = [r for r in tools.script.received if r.path == "/order"]
    assert got, f"the model made no call; it said {spoken!r}"
    assert got[0].query == "order_id=1234"
    stamp = got[0].headers["x-mediaserver-timestamp"]
    assert got[0].headers["x-mediaserver-signature"] == sign(
        "real-model-key", stamp, b"order_id=1234"
    )
    calls: list[Any] = [e for e in events if isinstance(e, ToolCall)]
    assert calls[0].name == "lookup_order" and calls[0].status == "ok"
    assert "{" not in spoken and "tool_call" not in spoken, spoken
