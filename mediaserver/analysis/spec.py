"""What an agent asks the analysis for: its `analysis` field
({"enabled": true, "dispositions": [...], "schema": {JSON Schema}})."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mediaserver.store import Store

SENTIMENTS = ("positive", "neutral", "negative")


@dataclass(frozen=True, slots=True)
class AnalysisSpec:
    dispositions: tuple[str, ...]
    schema: dict[str, Any]  # of the fields to extract ({}: none)


def from_agent_spec(spec: dict[str, Any]) -> AnalysisSpec | None:
    """The analysis an agent's stored spec enables; None if it enables none."""
    analysis = spec.get("analysis") or {}
    if not analysis.get("enabled"):
        return None
    return AnalysisSpec(
        tuple(analysis.get("dispositions") or ()), dict(analysis.get("schema") or {})
    )


def for_call(store: Store, call: dict[str, Any]) -> AnalysisSpec | None:
    """The analysis the call's agent (at the version the call ran) enables."""
    version = int(call.get("agent_version") or 0)
    if version < 1:
        return None  # the built-in agent: no analysis
    row = store.get_agent(str(call["agent"]), version)
    return None if row is None else from_agent_spec(row["spec"])
