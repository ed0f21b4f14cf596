"""Tool rounds inside one reply: the LLM's stream is watched for a tool call
(Qwen's `<tool_call>{"name": ..., "arguments": ...}</tool_call>`, the bare
JSON, or a reply that opens with a ``` fence: tools/calls.py reads them)
before any of it is spoken; the call is checked against the tool's schema
(malformed: asked again once, then an apology), run (a filler is said if it
is slow), its answer handed back to the LLM, and the LLM's answer spoken."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mediaserver.clock import now
from mediaserver.events import CallEvent, ToolCall
from mediaserver.speech import Message, Speech
from mediaserver.tools.calls import ParsedCall, parse_call
from mediaserver.tools.spec import Tool, ToolResult, ToolRunner

MAX_ROUNDS = 3  # tool calls in one reply
TAG = "<tool_call>"
_CALL_START = re.compile(r'\{\s*"name"')
# what the start of a call looks like while it is still coming in
_PARTIAL = re.compile(r'^(<(t(o(o(l(_(c(a(l(l(>)?)?)?)?)?)?)?)?)?)?|\{\s*("(n(a(m(e)?)?)?)?)?)$')
FENCE = "```"  # a reply that opens with a code fence is JSON or code: never spoken

# A built-in's effect, decided by the engine: the text to say (None: nothing).
Action = Callable[[Tool, dict[str, Any]], str | None]


@dataclass(frozen=True, slots=True)
class ToolPhrases:
    filler: str = "One moment, let me check."
    apology: str = "Sorry, I couldn't do that just now. Is there anything else I can help with?"
    filler_after_s: float = 0.7


class ToolRound:
    """The spoken pieces of one reply of an agent with tools."""

    def __init__(
        self,
        speech: Speech,
        tools: tuple[Tool, ...],
        runner: ToolRunner,
        act: Action,
        on_event: Callable[[CallEvent], None],
        *,
        phrases: ToolPhrases = ToolPhrases(),
        confirmed: Callable[[], Awaitable[bool]] | None = None,
        record: Callable[[Message], None] | None = None,
    ) -> None:
        self.speech = speech
        self.tools = {tool.name: tool for tool in tools}
        self.runner = runner
        self.act = act
        self.on_event = on_event
        self.phrases = phrases
        self.confirmed = confirmed  # waits until the turn is no longer speculative
        self.record = record or (lambda message: None)  # tool messages, for the history
        self.calls: list[tuple[str, str]] = []  # (name, arguments) run in this reply

    async def pieces(
        self, messages: list[Message], max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        messages = list(messages)
        specs = [tool.for_llm() for tool in self.tools.values()]
        reasked = False
        for _ in range(MAX_ROUNDS + 1):
            stream = self.speech.reply(messages, max_tokens, temperature, tools=specs)
            call_text: list[str] = []
            async for piece in _spoken_or_call(stream, call_text):
                yield piece
            if not call_text:
                return  # the model answered in words: done
            parsed, problem = self._checked(call_text[0])
            if parsed is None:
                if reasked:
                    yield self.phrases.apology
                    return
                reasked = True
                messages = [
                    *messages,
                    {"role": "assistant", "content": call_text[0]},
                    {"role": "tool", "content": json.dumps({"error": problem})},
                ]
                continue
            if self.confirmed is not None and not await self.confirmed():
                return  # a tool may book or charge: never for a turn taken back
            if parsed.tool.builtin:
                self.on_event(ToolCall(parsed.tool.name, _key(parsed.arguments), "ok", 0.0))
                if said := self.act(parsed.tool, parsed.arguments):
                    yield said
                return
            results: list[ToolResult] = []
            async for filler in self._run(parsed, results):
                yield filler
            if results[0].status != "ok":
                yield self.phrases.apology
                return
            exchange: list[Message] = [
                {"role": "assistant", "content": f"{TAG}\n{parsed.text}\n</tool_call>"},
                {"role": "tool", "content": results[0].content},
            ]
            messages = [*messages, *exchange]
            for message in exchange:
                self.record(message)
        yield self.phrases.apology  # a model that only calls tools

    def _checked(self, raw: str) -> tuple[ParsedCall | None, str]:
        """The call to make, or why not (recorded as a bad_arguments tool call)."""
        parsed, problem = self.parse(raw)
        if parsed is not None and (parsed.tool.name, _key(parsed.arguments)) in self.calls:
            parsed, problem = None, "this call was already made: answer the caller with its result"
        if parsed is None:
            self.on_event(ToolCall(_name_in(raw), raw[:512], "bad_arguments", 0.0, problem))
        return parsed, problem

    async def _run(self, call: ParsedCall, results: list[ToolResult]) -> AsyncIterator[str]:
        """Run the tool; the filler if it has not answered within the filler
        delay; its result into `results`. A reply cancelled meanwhile (the
        caller took the floor, or hung up) cancels the tool's request."""
        started, arguments = now(), _key(call.arguments)
        task = asyncio.ensure_future(self.runner.run(call.tool, call.arguments))
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.phrases.filler_after_s):
                    await asyncio.shield(task)
            if not task.done():
                yield self.phrases.filler + " "
            results.append(await task)
        finally:
            if not results:
                task.cancel()
                latency = round(1000 * (now() - started), 1)
                self.on_event(ToolCall(call.tool.name, arguments, "cancelled", latency))
        result = results[0]
        self.calls.append((call.tool.name, arguments))
        detail = "" if result.status == "ok" else result.content[:256]
        self.on_event(ToolCall(call.tool.name, arguments, result.status, result.latency_ms, detail))

    def parse(self, raw: str) -> tuple[ParsedCall | None, str]:
        """The call the model wrote, or why it is not one we can make."""
        return parse_call(raw, self.tools)


async def _spoken_or_call(stream: AsyncIterator[str], call: list[str]) -> AsyncIterator[str]:
    """The stream's text to speak; a tool call in it is held back, never spoken,
    and left in `call` (the rest of the stream is the call). A reply that opens
    with a brace or a ``` fence is JSON or code, never words: held back the same way."""
    pending = ""
    in_call = False
    spoken = False
    try:
        async for piece in stream:
            pending += piece
            if in_call:
                continue
            while pending:
                starts = (pending.find("{"), pending.find("<"), pending.find("`"))
                cut = min((i for i in starts if i >= 0), default=-1)
                if cut < 0:
                    yield pending
                    spoken = spoken or bool(pending.strip())
                    pending = ""
                    break
                if cut:
                    yield pending[:cut]
                    spoken = spoken or bool(pending[:cut].strip())
                    pending = pending[cut:]
                opens_json = not spoken and pending.startswith(("{", FENCE))
                if pending.startswith(TAG) or _CALL_START.match(pending) or opens_json:
                    in_call = True
                    break
                if _PARTIAL.match(pending) or (not spoken and FENCE.startswith(pending)):
                    break  # may still become a call: wait for more
                yield pending[0]
                spoken = True
                pending = pending[1:]
    finally:
        if (close := getattr(stream, "aclose", None)) is not None:
            await close()
    if in_call:
        call.append(pending)
    elif pending:
        yield pending


def _key(arguments: dict[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"))


def _name_in(raw: str) -> str:
    match = re.search(r'"name"\s*:\s*"([^"]{1,64})"', raw)
    return match.group(1) if match else ""
