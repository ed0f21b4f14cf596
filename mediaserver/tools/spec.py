"""What a tool is (an agent's HTTP endpoint or a built-in call action), what
calling it gave, and the port the conversation calls tools through. Plain
data: the conversation, the agents and the HTTP runner all import it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import jsonschema_rs

BUILTINS = ("transfer_call", "end_call", "send_dtmf")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
SECRET_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]{0,127})\}")
JSON_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}

BUILTIN_SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "transfer_call": (
        "Transfer the caller to a person (a colleague) when they ask for one.",
        {"type": "object", "properties": {}},
    ),
    "end_call": (
        "Say goodbye and hang up, once the caller has what they need.",
        {"type": "object", "properties": {}},
    ),
    "send_dtmf": (
        "Press keys on the phone keypad (to choose options of another company's phone menu).",
        {
            "type": "object",
            "properties": {"digits": {"type": "string", "description": "keys: 0-9, * and #"}},
            "required": ["digits"],
        },
    ),
}
DTMF_DIGITS = re.compile(r"^[0-9*#A-Da-d]{1,32}$")


@dataclass(frozen=True, slots=True)
class Tool:
    """One tool an agent may call. `url` empty: a built-in (BUILTINS)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    url: str = ""
    method: Literal["GET", "POST"] = "POST"
    headers: tuple[tuple[str, str], ...] = ()  # values may name secrets: "${NAME}"
    timeout_seconds: float = 5.0

    @property
    def builtin(self) -> bool:
        return not self.url

    @staticmethod
    def of_builtin(name: str) -> Tool:
        description, parameters = BUILTIN_SCHEMAS[name]
        return Tool(name, description, parameters)

    def for_llm(self) -> dict[str, Any]:
        """The tool as an OpenAI `tools` entry (what chat templates render)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


Status = Literal["ok", "error", "timeout", "refused", "bad_arguments"]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool answered: `content` is its JSON text (status "ok"), or why it failed."""

    status: Status
    content: str
    latency_ms: float = 0.0


class ToolRunner(Protocol):
    async def run(self, tool: Tool, arguments: dict[str, Any]) -> ToolResult:
        """Call an HTTP tool; never raises for the tool's failures (see status)."""
        ...


def schema_problem(schema: object, where: str = "parameters") -> str | None:
    """Why `schema` is not a JSON Schema we can check arguments against (an
    object schema whose properties have JSON types, valid for jsonschema-rs,
    which checks the calls), or None."""
    problem = next(_schema_problems(schema, where), None)
    if problem is not None or not isinstance(schema, dict):  # (a non-dict has its problem)
        return problem
    try:
        jsonschema_rs.validator_for(schema)
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        return f"{where}: not a valid JSON Schema: {str(exc).splitlines()[0]}"
    return None


def _schema_problems(schema: object, where: str) -> Iterator[str]:
    if not isinstance(schema, dict):
        yield f"{where}: expected a JSON Schema object"
        return
    kind = schema.get("type")
    if kind is not None and (not isinstance(kind, str) or kind not in JSON_TYPES):
        yield f"{where}.type: {kind!r} is not a JSON type ({', '.join(sorted(JSON_TYPES))})"
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        yield f"{where}.properties: expected an object"
        return
    for name, sub in properties.items():
        yield from _schema_problems(sub, f"{where}.properties.{name}")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        yield f"{where}.required: expected a list of property names"
    elif missing := [r for r in required if r not in properties]:
        yield f"{where}.required: {missing[0]!r} is not among the properties"
    if "items" in schema:
        yield from _schema_problems(schema["items"], f"{where}.items")
    if "enum" in schema and not isinstance(schema["enum"], list):
        yield f"{where}.enum: expected a list"
