"""Reading a tool call as models write it (tools/calls.py): the shapes small
models use are calls; anything that is not one known tool with arguments
valid against its JSON Schema is not, with the reason."""

from __future__ import annotations

import json

import pytest

from mediaserver.tools.calls import decode_call, parse_call
from mediaserver.tools.spec import Tool, schema_problem

BOOK = Tool(
    "book_appointment",
    "Book an appointment.",
    {
        "type": "object",
        "properties": {
            "patient_name": {"type": "string"},
            "day": {"type": "string"},
            "service": {"type": "string", "enum": ["check-up", "cleaning"]},
            "time": {"type": "string"},
        },
        "required": ["patient_name", "day", "service"],
        "additionalProperties": False,
    },
    url="http://127.0.0.1:9/book",
)
TOOLS = {"book_appointment": BOOK, "end_call": Tool.of_builtin("end_call")}
ARGS = {"patient_name": "Maria Lopez", "day": "Tuesday", "service": "cleaning"}
BODY = json.dumps({"name": "book_appointment", "arguments": ARGS})


@pytest.mark.parametrize(
    "raw",
    [
        f"<tool_call>\n{BODY}\n</tool_call>",
        f"<tool_call>\n{BODY}",  # the closing tag cut by a stop string
        BODY,  # llama.cpp left the special-token tags out
        f"\n  {BODY}  \n",
        f"{BODY}\n{json.dumps({'name': 'end_call', 'arguments': {}})}",  # the first call only
        f"<tool_call>\n{BODY}\n</tool_call>\nI have booked you in.",
        f"```json\n{BODY}\n```",
        f"```\n{BODY}\n```",
        f"```json\n{BODY}",  # the fence not closed before max_tokens
        json.dumps({"name": "book_appointment", "parameters": ARGS}),
        json.dumps({"name": "book_appointment", "arguments": json.dumps(ARGS)}),
        json.dumps(
            {"type": "function", "function": {"name": "book_appointment", "arguments": ARGS}}
        ),
        json.dumps({"name": "book_appointment", "arguments": {**ARGS, "time": None}}),
    ],
)
def test_the_shapes_small_models_write_are_calls(raw: str) -> None:
    parsed, problem = parse_call(raw, TOOLS)
    assert problem == ""
    assert parsed is not None
    assert (parsed.tool, parsed.arguments) == (BOOK, ARGS)
    assert json.loads(parsed.text) == {"name": "book_appointment", "arguments": ARGS}


def test_a_call_without_arguments_has_empty_ones() -> None:
    parsed, _ = parse_call('{"name": "end_call"}', TOOLS)
    assert parsed is not None
    assert (parsed.tool.name, parsed.arguments) == ("end_call", {})


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("I'll book that for you, Maria.", "expected a JSON object"),
        ('{"status": "shipped"}', 'expected {"name"'),  # the tool's answer echoed
        ('{"name": "Maria Lopez", "day": "Tuesday"}', "unexpected keys"),  # not a call
        ('{"name": "delete_everything", "arguments": {}}', "no tool 'delete_everything'"),
        ("```python\ndef sort(xs):\n    return sorted(xs)\n```", "expected a JSON object"),
        ("<tool_call>\nbook_appointment(day='Tuesday')\n</tool_call>", "expected a JSON object"),
        ('{"name": "book_appointment", "arguments": {"patient_name": "Ma', "not JSON"),
        ('{"name": "book_appointment", "arguments": ["Maria", "Tuesday"]}', "a JSON object"),
        ('{"name": "book_appointment", "arguments": "Maria, Tuesday"}', "not JSON"),
        (json.dumps({"name": "book_appointment", "arguments": ARGS, "parameters": ARGS}), "once"),
        (json.dumps({"name": "book_appointment", "arguments": {**ARGS, "day": None}}), "day"),
        (
            json.dumps({"name": "book_appointment", "arguments": {**ARGS, "service": "massage"}}),
            "massage",
        ),
        (json.dumps({"name": "book_appointment", "arguments": {**ARGS, "day": 2}}), "string"),
        (json.dumps({"name": "book_appointment", "arguments": {**ARGS, "room": "3"}}), "room"),
        (json.dumps({"name": "book_appointment", "arguments": {"day": "Tuesday"}}), "required"),
        ('"book_appointment"', "expected a JSON object"),
        ("", "expected a JSON object"),
    ],
)
def test_what_is_not_a_valid_call_is_refused_with_the_reason(raw: str, why: str) -> None:
    parsed, problem = parse_call(raw, TOOLS)
    assert parsed is None
    assert why in problem


def test_decode_reads_the_call_without_knowing_the_tools() -> None:
    assert decode_call(f"```json\n{BODY}\n```") == {"name": "book_appointment", "arguments": ARGS}
    assert isinstance(decode_call("[" + BODY + "]"), str)  # a list of calls is not one call


def test_a_schema_the_checker_cannot_compile_is_refused_when_the_agent_is_saved() -> None:
    """Else every call to the tool would be refused as malformed."""
    assert schema_problem(BOOK.parameters) is None
    bad = {"type": "object", "properties": {"day": {"type": "string", "pattern": "("}}}
    problem = schema_problem(bad)
    assert problem is not None and "not a valid JSON Schema" in problem and "regex" in problem
