"""How bench.agent grades an answer: keyword rules for answers and refusals,
and Qwen2.5's `<tool_call>{...}</tool_call>` parsed for tool requests.

Pure functions, unit-tested (tests/unit/test_bench_agent.py), so that a
grader that passes everything is caught."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mediaserver.tools.calls import decode_call, parse_call
from mediaserver.tools.spec import Tool

# "any number": a digit, or a number said in words (what an invented price looks like)
NUMBER = "#number"
_NUMBER_WORDS = (
    r"\d|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    r"fifty|sixty|seventy|eighty|ninety|hundred|thousand)\b"
)
# What an answer that admits not knowing, or declines, says.
REFUSALS = re.compile(
    r"\b(?:no|not|don't|do not|doesn't|does not|can't|cannot|can not|unable|sorry|"
    r"unfortunately|only|afraid|outside)\b|n't\b",
)


def normalize(text: str) -> str:
    """Lower case, curly quotes straight, and digits said apart joined up
    ("555-0142", "555 0142" -> "5550142") so phone numbers compare."""
    text = text.lower().replace("\u2019", "'").replace("$", " ")
    previous = None
    while previous != text:
        previous = text
        text = re.sub(r"(\d)[ \-.](?=\d)", r"\1", text)
    return text


def says(text: str, phrase: str) -> bool:
    """Whether the normalized `text` says `phrase` as whole words (or, for
    NUMBER, any number)."""
    if phrase == NUMBER:
        return re.search(_NUMBER_WORDS, text) is not None
    start = r"\b" if phrase[:1].isalnum() else ""
    end = r"\b" if phrase[-1:].isalnum() else ""
    return re.search(start + re.escape(phrase) + end, text) is not None


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    why: str  # what was missing or wrong; "" when passed


def grade_answer(
    answer: str, must: Sequence[Sequence[str]], must_not: Sequence[str] = ()
) -> Verdict:
    """Every group of `must` has one of its phrases, and nothing of `must_not`."""
    text = normalize(answer)
    for group in must:
        if not any(says(text, phrase) for phrase in group):
            return Verdict(False, f"says none of {group}")
    for phrase in must_not:
        if says(text, phrase):
            return Verdict(False, f"says {phrase!r}")
    return Verdict(True, "")


def grade_refusal(answer: str, must_not: Sequence[str]) -> Verdict:
    """The answer declines or admits not knowing, and invents nothing of `must_not`."""
    text = normalize(answer)
    if not text.strip():
        return Verdict(False, "no answer")
    for phrase in must_not:
        if says(text, phrase):
            return Verdict(False, f"says {phrase!r}")
    if REFUSALS.search(text) is None:
        return Verdict(False, "neither declines nor admits not knowing")
    return Verdict(True, "")


def tool_calls(output: str) -> list[dict[str, Any]]:
    """The calls in a Qwen2.5 reply: each `<tool_call>{"name": ..., "arguments":
    {...}}</tool_call>` (a missing closing tag at the end is tolerated: a stop
    string may have cut it). `<tool_call>` is a special token, which
    llama.cpp leaves out of the text it returns: a reply without the tags is
    read as the JSON objects it holds (in a ```json fence too). Each is read
    as the tool round reads a call (mediaserver/tools/calls.py: "parameters"
    for "arguments", the arguments as a JSON string); what it refuses is skipped."""
    bodies = re.findall(r"<tool_call>(.*?)(?:</tool_call>|$)", output, re.DOTALL)
    if not bodies:
        bodies = json_objects(output)
    decoded = (decode_call(body) for body in bodies)
    return [call for call in decoded if isinstance(call, dict)]


def json_objects(text: str) -> list[str]:
    """The top-level JSON objects in `text`, as text."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (start := text.find("{", at)) >= 0:
        try:
            _, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            at = start + 1
            continue
        found.append(text[start:end])
        at = end
    return found


def grade_tool_call(
    output: str,
    tool: str,
    expected: dict[str, str],
    tools: Mapping[str, Tool] | None = None,
) -> Verdict:
    """The reply's first tool call is `tool`, and each expected argument's
    value contains the expected text (case and digit spacing aside). With
    `tools`: the call is also one the tool round would make (its arguments
    valid against the tool's JSON Schema)."""
    calls = tool_calls(output)
    if not calls:
        return Verdict(False, "no tool call")
    call = calls[0]
    if call["name"] != tool:
        return Verdict(False, f"called {call['name']}, not {tool}")
    if tools is not None:
        _, problem = parse_call(json.dumps(call), tools)
        if problem:
            return Verdict(False, problem)
    arguments = call["arguments"] if isinstance(call["arguments"], dict) else {}
    for name, want in expected.items():
        got = normalize(str(arguments.get(name, "")))
        if normalize(want) not in got.replace(" ", "") and normalize(want) not in got:
            return Verdict(False, f"{name}={arguments.get(name)!r}, wanted {want!r}")
    return Verdict(True, "")
