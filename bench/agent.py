"""Does the default agent answer right? Accuracy per installed LLM.

    python -m bench.agent [--json] [--llm NAME ...] [--limit N] [--spoken N] [--facts MODE]
                          [--no-tools]

A built-in evaluation set (bench/data/agent_eval.json) about a sample
practice, Riverside Dental, whose FAQ is bench/data/riverside_dental.md
(written out as a PDF too, for a knowledge base to read): (a) questions
answerable only from it, graded by the key facts the answer must say;
(b) questions the agent must decline or admit not knowing, graded by a
declining phrase and no invented fact; (c) requests that need a tool
(bench/data/agent_tools.json, offered as a live call offers them: through
the GGUF's chat template, which writes Qwen2.5's tool prompt), graded by the
call the model writes (read as the tool round reads it: mediaserver/tools/
calls.py): the right tool with the right arguments.
Grading rules: bench/agent_grading.py.

Text mode, per installed LLM: the question goes to the LLM with the
messages a live call sends (the agent's system prompt and the question: the
call's history starts on the caller's turn, without the greeting) at the
agent's decoding; it also times the first token, the
retrieval cost (the document's best sections put into the system prompt
instead of the cached facts, as a knowledge base does: their prefill is the
cost) and one tool round (writing the call, then the first token after the
tool's result, against a direct answer's first token).

--facts: where the facts come from for (a) and (b): "prompt" (the agent's
system prompt, today's default agent) or "retrieval" (the chunks of the
document a knowledge base finds per question, with the "documents say
nothing" line below [knowledge] covered_score, and a sweep of that
threshold: bench/agent_knowledge.py).

--speed N: the first token and first clause (the LLM's share of
voice-to-voice) of N answers per LLM, with and without prompt lookup
(bench/agent_speed.py).

Spoken mode (--spoken N, bench/agent_spoken.py): N questions of (a) and
(b) each said by espeak-ng and Piper voices, through the same session and
engine as a live call (`mediaserver talk`), on the default models, the
agent interleaved with today's (the prompt and decoding before this bench):
accuracy and voice-to-voice p50 of each, in the same run.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.agent_grading import (
    Verdict,
    grade_answer,
    grade_refusal,
    grade_tool_call,
    tool_calls,
)
from mediaserver.agents import DEFAULT_AGENT, RECEPTIONIST_INSTRUCTIONS, Agent
from mediaserver.conversation.history import History
from mediaserver.tools.spec import Tool
from models import registry, store
from models.llm import LlamaLLM, Message

DATA = Path(__file__).parent / "data"
EVAL = json.loads((DATA / "agent_eval.json").read_text())
TOOLS: list[dict[str, Any]] = json.loads((DATA / "agent_tools.json").read_text())
CHECKED_TOOLS = {
    t["function"]["name"]: Tool(t["function"]["name"], parameters=t["function"]["parameters"])
    for t in TOOLS
}
DOCUMENT = (DATA / EVAL["document"]).read_text()

Builder = Callable[[str], list[Message]]  # question -> the messages the LLM is sent


def first_turn(system_prompt: str, agent: Agent, question: str) -> list[Message]:
    """What a live call sends the LLM for the caller's first question: the
    call's history after the greeting (History.messages starts on a user
    turn, so the greeting is not among them)."""
    history = History(system_prompt, agent.history_tokens)
    history.add("assistant", agent.greeting)
    history.add("user", question)
    return history.messages()


def prompt_facts(agent: Agent) -> Builder:
    """Today's: the facts are in the agent's system prompt (cached by llama.cpp)."""
    return lambda question: first_turn(agent.system_prompt, agent, question)


def sections(document: str) -> list[str]:
    return [s.strip() for s in re.split(r"\n(?=## )", document) if s.strip().startswith("## ")]


def retrieved_facts(agent: Agent, document: str = DOCUMENT, top: int = 3) -> Builder:
    """A knowledge base's shape: the document's `top` sections sharing most
    words with the question, after the agent's instructions. (A stand-in
    retriever: what is measured is the model reading chunks it has not cached.)"""
    chunks = sections(document)

    def build(question: str) -> list[Message]:
        asked = set(re.findall(r"[a-z]+", question.lower()))
        ranked = sorted(chunks, key=lambda c: -len(asked & set(re.findall(r"[a-z]+", c.lower()))))
        facts = "\n\n".join(ranked[:top])
        return first_turn(f"{RECEPTIONIST_INSTRUCTIONS}\n\n{facts}", agent, question)

    return build


def as_tool_call(output: str) -> str:
    """The model's call as its chat template writes it back into the history."""
    call = tool_calls(output)[0]
    return f"<tool_call>\n{json.dumps(call)}\n</tool_call>"


def write_pdf(path: Path, document: str = DOCUMENT) -> None:
    """The FAQ as a PDF (what a practice would upload to its knowledge base)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    for line in document.splitlines():
        heading = line.startswith("#")
        pdf.set_font("Helvetica", "B" if heading else "", 14 if heading else 11)
        pdf.multi_cell(0, 7, line.lstrip("# ") or " ", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


# Without it both Qwen models mostly answer a booking in words (1.5B: 1 in 5
# of the requests tried called a tool; with it, 4 in 4).
TOOL_INSTRUCTION = (
    "To book, cancel or find an appointment, or to check an order, do not answer in words: "
    "reply with the tool call only."
)


def tool_system(system: str) -> str:
    """`system` for an agent with tools (the chat template adds the tools after it)."""
    return f"{system}\n\n{TOOL_INSTRUCTION}"


@dataclass
class Generated:
    text: str
    first_token_ms: float
    total_ms: float


def generate(
    llm: LlamaLLM,
    messages: list[Message],
    agent: Agent,
    stop: str | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> Generated:
    start = time.perf_counter()
    first, text = 0.0, ""
    for piece in llm.stream(messages, agent.max_reply_tokens, agent.temperature, tools=tools):
        first = first or time.perf_counter() - start
        text += piece
        if stop and stop in text:
            break
    return Generated(text.strip(), first * 1000, (time.perf_counter() - start) * 1000)


def installed_llms(names: list[str] | None) -> dict[str, Path]:
    found = {}
    for model in registry.MODELS:
        if model.role == "llm" and (not names or model.name in names):
            try:
                found[model.name] = store.locate(model) / "model.gguf"
            except store.ModelError:
                continue
    return found


def grade_one(category: str, item: dict[str, Any], answer: str) -> Verdict:
    if category == "answer":
        return grade_answer(answer, item["must"], item.get("must_not", []))
    if category == "refuse":
        return grade_refusal(answer, item["must_not"])
    return grade_tool_call(answer, item["tool"], item["arguments"], CHECKED_TOOLS)


def spread(items: list[dict[str, Any]], n: int | None) -> list[dict[str, Any]]:
    """`n` items spread over the list (not only its first ones); None: all."""
    if n is None or n >= len(items):
        return items
    step = len(items) / max(1, n)
    return [items[int(i * step)] for i in range(n)]


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1) if values else float("nan")


def run_llm(
    path: Path, agent: Agent, facts: str, limit: int | None, no_tools: bool = False
) -> dict[str, Any]:
    """Every question of the set through one LLM, as text."""
    llm = LlamaLLM(path)
    llm.load()
    build = prompt_facts(agent) if facts == "prompt" else retrieved_facts(agent)
    results: dict[str, list[dict[str, Any]]] = {}
    first_tokens: list[float] = []
    knowledge: dict[str, Any] = {}
    if facts == "retrieval":
        from bench.agent_knowledge import ask_knowledge

        knowledge = ask_knowledge(llm, agent, limit, results, first_tokens)
    else:
        for category in ("answer", "refuse"):
            results[category] = []
            for item in spread(EVAL[category], limit):
                out = generate(llm, build(item["q"]), agent)
                first_tokens.append(out.first_token_ms)
                verdict = grade_one(category, item, out.text)
                results[category].append({"q": item["q"], "a": out.text, **vars_of(verdict)})
                progress(category, item["q"], out, verdict)
    # retrieval: the same questions with the best sections in the prompt, uncached
    retrieval = retrieved_facts(agent)
    retrieval_first = [
        generate(llm, retrieval(item["q"]), agent).first_token_ms
        for item in spread(EVAL["answer"], min(limit or 6, 6))
    ]
    # tools: offered through the chat template, as on a live call; with tools
    # the agent books itself (no "a colleague will confirm" line)
    lines = build("")[0]["content"].splitlines()
    system = tool_system("\n".join(line for line in lines if "colleague will confirm" not in line))
    results["tool"], rounds, direct = [], [], []
    for item in spread(EVAL["tool"], 0 if no_tools else limit):
        messages = [{"role": "system", "content": system}, *build(item["q"])[1:]]
        out = generate(llm, messages, agent, stop="</tool_call>", tools=TOOLS)
        verdict = grade_one("tool", item, out.text)
        results["tool"].append({"q": item["q"], "a": out.text, **vars_of(verdict)})
        progress("tool", item["q"], out, verdict)
        if verdict.passed:
            result = {"role": "tool", "content": '{"ok": true}'}
            after = generate(
                llm,
                [*messages, {"role": "assistant", "content": as_tool_call(out.text)}, result],
                agent,
                tools=TOOLS,
            )
            rounds.append(out.total_ms + after.first_token_ms)
            direct.append(out.first_token_ms)
    row: dict[str, Any] = {"llm": path.parent.name, "facts": facts}
    for category, key in (
        ("answer", "answer_accuracy"),
        ("refuse", "refusal_rate"),
        ("tool", "tool_accuracy"),
    ):
        graded = results[category]
        row[key] = round(sum(r["passed"] for r in graded) / len(graded), 3) if graded else None
        row[f"{category}_questions"] = len(graded)
    row.update(knowledge)
    row["first_token_p50_ms"] = median(first_tokens)
    row["retrieval_first_token_p50_ms"] = median(retrieval_first)
    row["retrieval_cost_ms"] = round(
        row["retrieval_first_token_p50_ms"] - row["first_token_p50_ms"], 1
    )
    row["tool_round_p50_ms"] = median(rounds)  # call written + first token after its result
    row["tool_round_cost_ms"] = round(median(rounds) - median(direct), 1) if rounds else None
    row["failures"] = [
        {"category": c, "q": r["q"], "a": r["a"], "why": r["why"]}
        for c, graded in results.items()
        for r in graded
        if not r["passed"]
    ]
    return row


def progress(category: str, question: str, out: Generated, verdict: Verdict) -> None:
    mark = "ok  " if verdict.passed else "FAIL"
    print(f"  {mark} [{category}] {question!r} -> {out.text!r} {verdict.why}", file=sys.stderr)


def vars_of(verdict: Verdict) -> dict[str, Any]:
    return {"passed": verdict.passed, "why": verdict.why}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agent", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--llm", action="append", help="only this LLM (repeatable)")
    parser.add_argument(
        "--limit", type=int, help="only N questions of each category, spread over it"
    )
    parser.add_argument("--facts", choices=("prompt", "retrieval"), default="prompt")
    parser.add_argument(
        "--spoken",
        type=int,
        default=0,
        metavar="N",
        help="also N questions of (a) and of (b) spoken through the engine",
    )
    parser.add_argument(
        "--speed",
        type=int,
        default=0,
        metavar="N",
        help="also time the first clause of N answers per LLM, with and without prompt lookup",
    )
    parser.add_argument("--no-text", action="store_true", help="skip the text-mode set")
    parser.add_argument("--no-tools", action="store_true", help="skip (c), the tool requests")
    parser.add_argument("--pdf", type=Path, help="write the sample document as this PDF, and stop")
    args = parser.parse_args(argv)
    if args.pdf:
        write_pdf(args.pdf)
        return 0
    agent = DEFAULT_AGENT
    report: dict[str, Any] = {"agent_temperature": agent.temperature, "llms": []}
    for path in installed_llms(args.llm).values() if not args.no_text else ():
        row = run_llm(path, agent, args.facts, args.limit, args.no_tools)
        report["llms"].append(row)
        if not args.json:
            print_row(row)
    if args.speed:
        from bench.agent_speed import print_speed, run_speed

        report["speed"] = run_speed(args.llm, args.speed)
        if not args.json:
            print_speed(report["speed"])
    if args.spoken:
        from bench.agent_spoken import run_spoken

        report["spoken"] = run_spoken(args.spoken)
        if not args.json:
            print_spoken(report["spoken"])
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['llm']:34} answers {row['answer_accuracy']:.0%} ({row['answer_questions']})  "
        f"refusals {row['refusal_rate']:.0%} ({row['refuse_questions']})  "
        f"tools {percent(row['tool_accuracy'])} ({row['tool_questions']})  "
        f"first token p50 {row['first_token_p50_ms']} ms, "
        f"retrieval +{row['retrieval_cost_ms']} ms, "
        f"tool round +{row['tool_round_cost_ms']} ms",
        flush=True,
    )
    for t in row.get("covered_score_sweep", []):
        print(
            f"    covered_score {t['covered_score']:5}: answers {t['answer_accuracy']:.0%}  "
            f"refusals {t['refusal_rate']:.0%}"
        )
    for f in row["failures"]:
        print(f"    [{f['category']}] {f['q']!r} -> {f['a']!r} ({f['why']})")


def print_spoken(spoken: dict[str, Any]) -> None:
    for name, s in spoken["agents"].items():
        print(
            f"spoken, {name}: answers {s['answer_accuracy']:.0%}, refusals {s['refusal_rate']:.0%} "
            f"({s['calls']} calls), voice-to-voice p50 {s['v2v_p50_ms']} ms"
        )
    print(f"voice-to-voice p50, this agent - today's: {spoken['v2v_p50_delta_ms']} ms")
    for f in spoken["failures"]:
        print(f"    [{f['agent']} {f['voice']}] {f['heard']!r} -> {f['a']!r} ({f['why']})")


if __name__ == "__main__":
    sys.exit(main())
