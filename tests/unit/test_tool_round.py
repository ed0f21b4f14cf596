"""Tool rounds on virtual time, with the fake speech port and a fake runner:
the call is never spoken, a slow tool gets the filler first, failures and
malformed calls end in an apology, built-ins act on the call."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from typing import Any

from mediaserver.agents import Agent
from mediaserver.events import AgentClause, Hangup, SendDtmf, ToolCall, Transfer
from mediaserver.tools.spec import Tool, ToolResult
from tests.fake_speech import FakeSpeech, Line, simulate

BOOK = Tool(
    "book_appointment",
    "Book an appointment.",
    {
        "type": "object",
        "properties": {"name": {"type": "string"}, "day": {"type": "string"}},
        "required": ["name", "day"],
    },
    url="http://127.0.0.1:9/book",
)
AGENT = replace(Agent(), tools=(BOOK, Tool.of_builtin("end_call"), Tool.of_builtin("send_dtmf")))
CALLER = [Line(1.0, 1.5, "Book me in for Monday please, my name is Ann")]


def call(name: str, arguments: dict[str, Any], tags: bool = True) -> str:
    body = json.dumps({"name": name, "arguments": arguments})
    return f"<tool_call>\n{body}\n</tool_call>" if tags else body


@dataclass
class FakeRunner:
    seconds: float = 0.2
    result: ToolResult = field(
        default_factory=lambda: ToolResult("ok", '{"booked": true, "time": "9 am"}')
    )
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def run(self, tool: Tool, arguments: dict[str, Any]) -> ToolResult:
        self.calls.append((tool.name, arguments))
        await asyncio.sleep(self.seconds)
        return replace(self.result, latency_ms=self.seconds * 1000)


def clauses(result: Any) -> list[str]:
    return [e.text for e in result.events if isinstance(e, AgentClause)]


def tool_calls(result: Any) -> list[ToolCall]:
    return [e for e in result.events if isinstance(e, ToolCall)]


def test_a_tool_call_is_run_and_its_answer_spoken_never_the_json() -> None:
    speech = FakeSpeech(
        answers=[
            call("book_appointment", {"name": "Ann", "day": "Monday"}),
            "Booked, Monday at 9.",
        ],
        lines=CALLER,
    )
    runner = FakeRunner()
    result = simulate(speech, 8, agent=AGENT, tools=runner)
    assert runner.calls == [("book_appointment", {"name": "Ann", "day": "Monday"})]
    spoken = clauses(result)
    assert "Booked, Monday at 9." in " ".join(spoken)
    assert not any("{" in c or "tool_call" in c for c in spoken)
    assert AGENT.tool_filler not in spoken  # a quick tool needs no filler
    [record] = tool_calls(result)
    assert (record.name, record.status, json.loads(record.arguments)) == (
        "book_appointment",
        "ok",
        {"day": "Monday", "name": "Ann"},
    )
    # the second round saw the tool's answer; the tools were offered each time
    second = speech.prompts[1]
    assert second[-1] == {"role": "tool", "content": '{"booked": true, "time": "9 am"}'}
    assert speech.tools_offered[0] and speech.tools_offered[0][0]["function"]["name"] == (
        "book_appointment"
    )
    # and the history keeps the exchange for the next turns
    roles = [m["role"] for m in result.engine.history.entries]
    assert roles == ["assistant", "user", "assistant", "tool", "assistant"]


def test_bare_json_call_without_tags_is_detected() -> None:
    """llama.cpp leaves Qwen's <tool_call> special tokens out of the stream."""
    speech = FakeSpeech(
        answers=[call("book_appointment", {"name": "Ann", "day": "Monday"}, tags=False), "Done."],
        lines=CALLER,
    )
    runner = FakeRunner()
    result = simulate(speech, 8, agent=AGENT, tools=runner)
    assert len(runner.calls) == 1
    assert not any("{" in c for c in clauses(result))


def test_a_slow_tool_gets_the_filler_then_the_answer() -> None:
    speech = FakeSpeech(
        answers=[call("book_appointment", {"name": "Ann", "day": "Monday"}), "Booked, Monday."],
        lines=CALLER,
    )
    result = simulate(speech, 10, agent=AGENT, tools=FakeRunner(seconds=2.5))
    spoken = clauses(result)
    assert spoken[1] == AGENT.tool_filler  # after the greeting, before the answer
    assert "Booked, Monday." in " ".join(spoken[2:])


def test_a_failing_tool_gets_an_apology_and_the_call_goes_on() -> None:
    speech = FakeSpeech(
        answers=[call("book_appointment", {"name": "Ann", "day": "Monday"}), "unused", "Sure."],
        lines=[*CALLER, Line(6.0, 1.0, "Thanks anyway")],
    )
    runner = FakeRunner(result=ToolResult("error", "HTTP 500: boom"))
    result = simulate(speech, 10, agent=AGENT, tools=runner)
    spoken = clauses(result)
    assert AGENT.tool_apology in " ".join(spoken)
    [record] = tool_calls(result)
    assert (record.status, record.detail) == ("error", "HTTP 500: boom")
    assert not result.engine.ended.is_set()
    assert result.engine.turns[-1].user_text == "Thanks anyway"  # answered after


def test_malformed_arguments_are_asked_again_once() -> None:
    speech = FakeSpeech(
        answers=[
            call("book_appointment", {"name": "Ann"}),  # no day
            call("book_appointment", {"name": "Ann", "day": "Monday"}),
            "Booked.",
        ],
        lines=CALLER,
    )
    runner = FakeRunner()
    result = simulate(speech, 8, agent=AGENT, tools=runner)
    assert runner.calls == [("book_appointment", {"name": "Ann", "day": "Monday"})]
    error = json.loads(speech.prompts[1][-1]["content"])["error"]
    assert '"day" is a required property' in error
    assert [c.status for c in tool_calls(result)] == ["bad_arguments", "ok"]


def test_malformed_twice_gets_an_apology_and_no_call() -> None:
    speech = FakeSpeech(
        answers=[call("book_appointment", {"day": 3}), call("cancel_everything", {}), "unused"],
        lines=CALLER,
    )
    runner = FakeRunner()
    result = simulate(speech, 8, agent=AGENT, tools=runner)
    assert runner.calls == []
    assert AGENT.tool_apology in " ".join(clauses(result))
    assert [c.status for c in tool_calls(result)] == ["bad_arguments", "bad_arguments"]


def test_end_call_says_goodbye_and_hangs_up() -> None:
    speech = FakeSpeech(answers=[call("end_call", {})], lines=CALLER)
    result = simulate(speech, 12, agent=AGENT, tools=FakeRunner())
    assert " ".join(clauses(result)).endswith(AGENT.goodbye)
    assert Hangup("agent") in result.events


def test_send_dtmf_presses_keys_silently() -> None:
    speech = FakeSpeech(answers=[call("send_dtmf", {"digits": "2#"})], lines=CALLER)
    result = simulate(speech, 8, agent=AGENT, tools=FakeRunner())
    assert SendDtmf("2#") in result.events
    assert clauses(result) == [AGENT.greeting]


def test_an_agent_without_tools_speaks_braces() -> None:
    speech = FakeSpeech(answers=["Use {curly} braces."], lines=CALLER)
    result = simulate(speech, 8, agent=replace(AGENT, tools=()), tools=FakeRunner())
    assert speech.tools_offered == [None]
    assert "Use {curly} braces." in " ".join(clauses(result))


def test_text_with_braces_is_spoken_by_an_agent_with_tools() -> None:
    speech = FakeSpeech(answers=["It costs {about} 60 dollars."], lines=CALLER)
    result = simulate(speech, 8, agent=AGENT, tools=FakeRunner())
    assert "It costs {about} 60 dollars." in " ".join(clauses(result))


def test_a_speculative_turn_never_calls_a_tool_until_confirmed() -> None:
    """The answer starts in the caller's pause; they go on: the booking made on
    half a sentence would be a real side effect, so the tool waits for the
    endpointer, and the turn taken back never calls it."""
    line = Line(4.0, 2.5, "Book me in for Monday please, my name is Ann", pause=(1.0, 0.5))
    speech = FakeSpeech(
        stt_seconds=0.05,
        first_token_seconds=0.05,
        token_seconds=0.01,
        answers=[
            call("book_appointment", {"name": "Bob", "day": "Sunday"}),  # the partial's
            call("book_appointment", {"name": "Ann", "day": "Monday"}),
            "Booked.",
        ],
        lines=[line],
    )
    runner = FakeRunner()
    simulate(speech, 12, agent=AGENT, tools=runner)
    assert len(speech.prompts) == 3  # the speculative reply asked the model too
    assert runner.calls == [("book_appointment", {"name": "Ann", "day": "Monday"})]


def test_transfer_call_hands_over_after_the_phrase() -> None:
    agent = replace(AGENT, tools=(Tool.of_builtin("transfer_call"),), transfer_target="sip:desk@x")
    speech = FakeSpeech(answers=[call("transfer_call", {})], lines=CALLER)
    result = simulate(speech, 10, agent=agent, tools=FakeRunner())
    assert " ".join(clauses(result)).endswith(agent.transfer_phrase)
    assert Transfer("sip:desk@x") in result.events


def test_transfer_call_without_a_target_says_how_and_ends() -> None:
    agent = replace(AGENT, tools=(Tool.of_builtin("transfer_call"),), transfer_target="")
    speech = FakeSpeech(answers=[call("transfer_call", {})], lines=CALLER)
    result = simulate(speech, 15, agent=agent, tools=FakeRunner())
    assert Hangup("no_transfer_target") in result.events
    assert not any(isinstance(e, Transfer) for e in result.events)


def test_a_tool_still_running_when_the_caller_takes_the_floor_is_cancelled() -> None:
    speech = FakeSpeech(
        answers=[call("book_appointment", {"name": "Ann", "day": "Monday"}), "Sure."],
        lines=[*CALLER, Line(5.0, 1.5, "Actually never mind that")],
    )
    runner = FakeRunner(seconds=30.0)
    result = simulate(speech, 12, agent=AGENT, tools=runner)
    assert [c.status for c in tool_calls(result)] == ["cancelled"]
    assert result.engine.turns[-1].user_text == "Actually never mind that"


def test_the_filler_comes_only_past_the_filler_delay() -> None:
    """On virtual time: a tool answering in 0.6 s is waited for in silence,
    one answering in 0.8 s gets the filler (the delay is 0.7 s)."""
    said = {}
    for seconds in (0.6, 0.8):
        speech = FakeSpeech(
            answers=[call("book_appointment", {"name": "Ann", "day": "Monday"}), "Booked."],
            lines=CALLER,
        )
        result = simulate(speech, 8, agent=AGENT, tools=FakeRunner(seconds=seconds))
        said[seconds] = clauses(result)
    assert AGENT.tool_filler not in said[0.6]
    assert AGENT.tool_filler in said[0.8]


def test_a_reply_that_is_json_but_no_call_is_never_spoken() -> None:
    """The small model echoes the tool's answer as JSON: re-asked, then the apology."""
    speech = FakeSpeech(answers=['{"status": "shipped"}', '{"status": "shipped"}'], lines=CALLER)
    result = simulate(speech, 8, agent=AGENT, tools=FakeRunner())
    spoken = " ".join(clauses(result))
    assert "shipped" not in spoken
    assert AGENT.tool_apology in spoken


def test_a_call_in_a_json_fence_with_parameters_is_run_and_never_spoken() -> None:
    """What small Qwen models write instead of <tool_call>: a ```json fence,
    "parameters" for "arguments"."""
    body = json.dumps({"name": "book_appointment", "parameters": {"name": "Ann", "day": "Monday"}})
    speech = FakeSpeech(answers=[f"```json\n{body}\n```", "Booked, Monday."], lines=CALLER)
    runner = FakeRunner()
    result = simulate(speech, 8, agent=AGENT, tools=runner)
    assert runner.calls == [("book_appointment", {"name": "Ann", "day": "Monday"})]
    spoken = " ".join(clauses(result))
    assert "`" not in spoken and "{" not in spoken
    assert "Booked, Monday." in spoken


def test_a_reply_that_opens_with_a_code_fence_is_never_spoken() -> None:
    code = "```python\ndef sort(xs):\n    return sorted(xs)\n```"
    speech = FakeSpeech(answers=[code, code], lines=CALLER)
    runner = FakeRunner()
    result = simulate(speech, 8, agent=AGENT, tools=runner)
    spoken = " ".join(clauses(result))
    assert runner.calls == []
    assert "sorted" not in spoken and "`" not in spoken
    assert AGENT.tool_apology in spoken


def test_backticks_inside_words_are_spoken() -> None:
    speech = FakeSpeech(answers=["Press the `hash` key, then 1."], lines=CALLER)
    result = simulate(speech, 8, agent=AGENT, tools=FakeRunner())
    assert "Press the `hash` key, then 1." in " ".join(clauses(result))
