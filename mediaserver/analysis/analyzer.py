"""One call's analysis by the LLM (through the Speech port's reply): asked for
one JSON object, checked against the schema the agent defines; an answer
that is not valid is shown its error and asked once more; then the analysis
is stored as failed, with the reason."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs

from mediaserver.analysis.spec import SENTIMENTS, AnalysisSpec
from mediaserver.speech import Message, Speech, SpeechError

TRANSCRIPT_CHARS = 6000  # the end of a longer call is kept (a small model's context)


class SchemaError(ValueError):
    """The agent's schema is not a valid JSON Schema."""


def answer_schema(spec: AnalysisSpec) -> dict[str, Any]:
    """What the model's whole answer must match."""
    disposition: dict[str, Any] = {"type": "string", "minLength": 1}
    if spec.dispositions:
        disposition = {"enum": list(spec.dispositions)}
    return {
        "type": "object",
        "required": ["summary", "disposition", "sentiment", "fields"],
        "properties": {
            "summary": {"type": "string", "minLength": 1},
            "disposition": disposition,
            "sentiment": {"enum": list(SENTIMENTS)},
            "fields": spec.schema or {"type": "object"},
        },
    }


def check_schema(schema: dict[str, Any]) -> None:
    """SchemaError if `schema` is not one (for the agents' API: 422)."""
    try:
        jsonschema_rs.validator_for(schema)
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        raise SchemaError(str(exc).splitlines()[0]) from None


def prompt(spec: AnalysisSpec, turns: list[dict[str, Any]]) -> list[Message]:
    lines = [f"{'Caller' if t['speaker'] == 'caller' else 'Agent'}: {t['text']}" for t in turns]
    transcript = "\n".join(lines)[-TRANSCRIPT_CHARS:] or "(nobody spoke)"
    dispositions = ", ".join(f'"{d}"' for d in spec.dispositions) or "a short label"
    fields = json.dumps(spec.schema or {"type": "object"}, separators=(",", ":"))
    system = (
        "You analyse a finished phone call between a caller and an agent. "
        "Answer with one JSON object and nothing else, with these keys:\n"
        '"summary": one or two sentences on what the call was about and how it ended;\n'
        f'"disposition": one of {dispositions};\n'
        '"sentiment": the caller\'s mood, one of "positive", "neutral", "negative";\n'
        f'"fields": an object matching this JSON Schema: {fields}'
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"The call:\n{transcript}\n\nThe JSON object:"},
    ]


def parse(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON object in the model's answer, valid against `schema`; ValueError
    (saying what is wrong) otherwise."""
    found = re.search(r"\{.*\}", text, re.S)
    if found is None:
        raise ValueError("the answer holds no JSON object")
    try:
        value = json.loads(found.group(0))
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    errors = [
        f"{'/'.join(map(str, e.instance_path)) or 'the object'}: {e.message}"
        for e in jsonschema_rs.validator_for(schema).iter_errors(value)
    ]
    if errors:
        raise ValueError("; ".join(errors[:3]))
    result: dict[str, Any] = value
    return result


async def analyse(
    speech: Speech, spec: AnalysisSpec, turns: list[dict[str, Any]], max_tokens: int
) -> dict[str, Any]:
    """{"status": "done", summary, disposition, sentiment, fields} or
    {"status": "failed", "reason": ...}; two tries at most."""
    schema = answer_schema(spec)
    messages = prompt(spec, turns)
    reason = ""
    for attempt in (1, 2):
        try:
            text = "".join([piece async for piece in speech.reply(messages, max_tokens, 0.0)])
        except SpeechError as exc:
            return {"status": "failed", "reason": f"the model did not answer: {exc}"}
        try:
            result = parse(text, schema)
        except ValueError as exc:
            reason = str(exc)
            messages = [
                *messages,
                {"role": "assistant", "content": text},
                {
                    "role": "user",
                    "content": f"That is not valid ({reason}). Answer with the JSON object only.",
                },
            ]
            continue
        fields = {k: result[k] for k in ("summary", "disposition", "sentiment", "fields")}
        return {"status": "done", "attempts": attempt, **fields}
    return {"status": "failed", "reason": f"no valid answer in 2 tries: {reason}"[:1000]}
