"""bench.agent --speed: what a caller waits for, per LLM, with and without
prompt lookup (llama.cpp speculative decoding whose drafts are copied from
the prompt: an answer read out of the agent's facts is mostly copies).

The first clause is what the turn engine hands to the voice first (the
engine's own ClauseSplitter), so its time is the LLM's share of
voice-to-voice. Variants interleaved question by question on the same
machine; ratios against the default LLM without lookup."""

from __future__ import annotations

import time
from typing import Any

from bench.agent import EVAL, installed_llms, median, prompt_facts
from mediaserver.agents import DEFAULT_AGENT
from mediaserver.config import ModelsConfig
from mediaserver.conversation.clauses import ClauseSplitter
from models.llm import LlamaLLM

LOOKUP_TOKENS = 8


def timed(llm: LlamaLLM, question: str) -> tuple[float, float, float]:
    """(first token, first clause, per token after the first) in ms."""
    agent = DEFAULT_AGENT
    splitter = ClauseSplitter()
    start = time.perf_counter()
    stamps: list[float] = []
    clause = 0.0
    for piece in llm.stream(
        prompt_facts(agent)(question), agent.max_reply_tokens, agent.temperature
    ):
        stamps.append(time.perf_counter() - start)
        if not clause and splitter.feed(piece):
            clause = stamps[-1]
    clause = clause or stamps[-1]
    per = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else 0.0
    return stamps[0] * 1000, clause * 1000, per * 1000


def run_speed(names: list[str] | None, questions: int) -> dict[str, Any]:
    variants: dict[str, LlamaLLM] = {}
    for name, path in installed_llms(names).items():
        variants[name] = LlamaLLM(path)
        if name.startswith("qwen"):
            variants[f"{name} +lookup"] = LlamaLLM(path, prompt_lookup_tokens=LOOKUP_TOKENS)
    rows: dict[str, dict[str, list[float]]] = {}
    for name, llm in variants.items():
        llm.load()
        timed(llm, "Hello")  # the system prompt read once and cached, as at a call's start
        rows[name] = {"first_token": [], "first_clause": [], "per_token": []}
    for item in EVAL["answer"][:: max(1, len(EVAL["answer"]) // questions)][:questions]:
        for name, llm in variants.items():
            first, clause, per = timed(llm, item["q"])
            rows[name]["first_token"].append(first)
            rows[name]["first_clause"].append(clause)
            rows[name]["per_token"].append(per)
    report: dict[str, Any] = {"questions": questions, "lookup_tokens": LOOKUP_TOKENS, "llms": {}}
    for name, row in rows.items():
        report["llms"][name] = {f"{k}_p50_ms": median(v) for k, v in row.items()}
    base = report["llms"].get(ModelsConfig().llm)
    for entry in report["llms"].values():
        if base:
            entry["first_clause_vs_default"] = round(
                entry["first_clause_p50_ms"] / base["first_clause_p50_ms"], 2
            )
    return report


def print_speed(report: dict[str, Any]) -> None:
    print(f"LLM share of voice-to-voice, p50 over {report['questions']} questions:")
    for name, e in report["llms"].items():
        print(
            f"  {name:42} first token {e['first_token_p50_ms']:7.1f} ms  first clause "
            f"{e['first_clause_p50_ms']:7.1f} ms ({e.get('first_clause_vs_default', '-')}x)  "
            f"per token {e['per_token_p50_ms']:6.1f} ms"
        )
