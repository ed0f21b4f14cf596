"""A tool call as a model writes it, read strictly: Qwen's
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` and the shapes
small models write instead (the JSON without its tags, in a ```json fence,
"parameters" for "arguments", the arguments as a JSON string, OpenAI's
{"function": {...}} wrapper). Whatever the shape, it is a call only if it
names one of the agent's tools and its arguments are valid against that
tool's JSON Schema; otherwise the reason, which goes back to the model."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from mediaserver.tools.spec import Tool

OPEN_TAG, CLOSE_TAG = "<tool_call>", "</tool_call>"
_FENCE = re.compile(r"^```[A-Za-z]*[ \t]*\n?(.*?)(?:\n?```|$)", re.DOTALL)
_CALL_KEYS = {"name", "arguments", "parameters", "type", "id"}


@dataclass(frozen=True, slots=True)
class ParsedCall:
    tool: Tool
    arguments: dict[str, Any]
    text: str  # the call as JSON (what goes back into the messages)


def decode_call(raw: str) -> dict[str, Any] | str:
    """{"name": str, "arguments": dict} from the model's call, or what is wrong with it."""
    value = _json_in(raw)
    if isinstance(value, dict) and isinstance(value.get("function"), dict):
        if extra := set(value) - {"function", "type", "id"}:
            return f"unexpected keys in the tool call: {sorted(extra)}"
        value = value["function"]
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return 'expected {"name": ..., "arguments": {...}}'
    if extra := set(value) - _CALL_KEYS:
        return f"unexpected keys in the tool call: {sorted(extra)}"
    arguments = _arguments(value)
    if isinstance(arguments, str):
        return arguments
    return {"name": value["name"], "arguments": arguments}


def _arguments(call: dict[str, Any]) -> dict[str, Any] | str:
    if "arguments" in call and "parameters" in call:
        return 'give the arguments once, as "arguments"'
    arguments = call.get("arguments", call.get("parameters", {}))
    if isinstance(arguments, str):  # OpenAI's form: the arguments as a JSON string
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError:
            return "the arguments are not JSON"
    return arguments if isinstance(arguments, dict) else "the arguments must be a JSON object"


def _json_in(raw: str) -> object:
    """The JSON object `raw` opens with (in tags, a fence, or bare; a second
    call after it is not made), or what is wrong (a str: a JSON string is never
    a call)."""
    text = raw.strip()
    if text.startswith(OPEN_TAG):
        text = text[len(OPEN_TAG) :].split(CLOSE_TAG, 1)[0].strip()
    elif fenced := _FENCE.match(text):
        text = fenced.group(1).strip()
    if not text.startswith("{"):
        return 'expected a JSON object {"name": ..., "arguments": {...}}'
    try:
        value, _ = json.JSONDecoder().raw_decode(text)  # what follows is never spoken
    except ValueError as exc:
        return f"the tool call is not JSON: {exc}"
    return value


def parse_call(raw: str, tools: Mapping[str, Tool]) -> tuple[ParsedCall | None, str]:
    """The call `raw` makes to one of `tools`, or why it is not one we can make."""
    value = decode_call(raw)
    if isinstance(value, str):
        return None, value
    tool = tools.get(value["name"])
    if tool is None:
        return None, f"no tool {value['name']!r} (tools: {', '.join(tools)})"
    arguments = _without_unset(tool.parameters, value["arguments"])
    if (problem := arguments_problem(tool.parameters, arguments)) is not None:
        return None, problem
    text = json.dumps({"name": tool.name, "arguments": arguments}, ensure_ascii=False)
    return ParsedCall(tool, arguments, text), ""


def arguments_problem(schema: dict[str, Any], arguments: object) -> str | None:
    """Why `arguments` is not valid against the tool's JSON Schema, or None."""
    try:
        errors = list(jsonschema_rs.validator_for(schema).iter_errors(arguments))
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        return f"the tool's parameters are not a JSON Schema: {exc}"
    if not errors:
        return None
    return "; ".join(
        f"arguments{''.join(f'.{p}' for p in e.instance_path)}: {e.message}" for e in errors[:3]
    )


def _without_unset(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """`arguments` without the optional ones given as null (how small models
    write "not said"), unless the schema allows null there."""
    required = set(schema.get("required", []))
    properties = schema.get("properties", {})

    def allows_null(name: str) -> bool:
        kind = properties.get(name, {}).get("type") if isinstance(properties, dict) else None
        return kind == "null" or (isinstance(kind, list) and "null" in kind)

    return {
        name: value
        for name, value in arguments.items()
        if value is not None or name in required or allows_null(name)
    }
