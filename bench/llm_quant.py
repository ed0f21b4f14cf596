"""The default LLM as published vs re-quantized to Q4_0, in the same run.

    python -m bench.llm_quant [--json] [--rounds 2]

For each registered variant: the cost of reading the receptionist's whole
prompt, the first token of an answer when that prompt is cached (what a
caller waits for), the time per token after it, and each answer's text, so
the two can be read side by side. Medians over the bench.latency questions,
the variants interleaved question by question.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from bench.latency import QUESTIONS
from mediaserver.agents import DEFAULT_AGENT
from models import registry, store
from models.llm import LlamaLLM

VARIANTS = ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-0.5b-instruct-q4_0")


def run(rounds: int) -> dict[str, Any]:
    agent = DEFAULT_AGENT.deterministic()
    prefix = [
        {"role": "system", "content": agent.system_prompt},
        {"role": "assistant", "content": agent.greeting},
    ]
    llms = {
        name: LlamaLLM(store.locate(registry.by_name(name)) / "model.gguf") for name in VARIANTS
    }
    rows: dict[str, dict[str, Any]] = {}
    for name, llm in llms.items():
        llm.load()
        start = time.perf_counter()
        for _ in llm.stream([*prefix, {"role": "user", "content": "Hello"}], max_tokens=1):
            pass
        rows[name] = {"prompt_ms": (time.perf_counter() - start) * 1000, "first": [], "per": []}
        rows[name]["answers"] = {}
    for _ in range(rounds):
        for question in QUESTIONS:
            for name, llm in llms.items():
                messages = [*prefix, {"role": "user", "content": question}]
                start, stamps, text = time.perf_counter(), [], ""
                for piece in llm.stream(messages, max_tokens=24, temperature=0.0):
                    stamps.append(time.perf_counter() - start)
                    text += piece
                rows[name]["first"].append(stamps[0] * 1000)
                if len(stamps) > 2:
                    rows[name]["per"].append((stamps[-1] - stamps[0]) / (len(stamps) - 1) * 1000)
                rows[name]["answers"][question] = text.strip()
    report: dict[str, Any] = {"variants": {}}
    for name, row in rows.items():
        size = (store.locate(registry.by_name(name)) / "model.gguf").stat().st_size
        report["variants"][name] = {
            "file_mb": round(size / 1e6),
            "whole_prompt_ms": round(row["prompt_ms"], 1),
            "first_token_p50_ms": round(statistics.median(row["first"]), 1),
            "per_token_p50_ms": round(statistics.median(row["per"]), 1),
            "answers": row["answers"],
        }
    published, q4 = (report["variants"][v] for v in VARIANTS)
    report["speedup_q4_0"] = {
        key: round(published[key] / q4[key], 2)
        for key in ("whole_prompt_ms", "first_token_p50_ms", "per_token_p50_ms")
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.llm_quant", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    report = run(args.rounds)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    for name, v in report["variants"].items():
        print(
            f"{name:34} {v['file_mb']:4} MB  whole prompt {v['whole_prompt_ms']:7.1f} ms  "
            f"first token p50 {v['first_token_p50_ms']:6.1f} ms  "
            f"per token p50 {v['per_token_p50_ms']:5.1f} ms"
        )
    print("speed-up of Q4_0:", ", ".join(f"{k} {x}x" for k, x in report["speedup_q4_0"].items()))
    for question in QUESTIONS:
        print(f"\n{question}")
        for name, v in report["variants"].items():
            print(f"  {name:34} {v['answers'][question]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
