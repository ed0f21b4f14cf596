"""The registered LLMs side by side, in the same run.

    python -m bench.llm [--json] [--rounds 2]

For each installed LLM (the default, Qwen 0.5B re-quantized to Q4_0; the
same as published; the 1.5B when installed): the cost of reading the
receptionist's whole prompt, the first token of an answer when that prompt
is cached (what a caller waits for), the time per token after it, and each
answer, so they can be read side by side. Medians over the bench.latency
questions, the models interleaved question by question; ratios are against
the default.
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
from mediaserver.config import ModelsConfig
from models import registry, store
from models.llm import LlamaLLM

DEFAULT = ModelsConfig().llm
KEYS = ("whole_prompt_ms", "first_token_p50_ms", "per_token_p50_ms")


def installed_llms() -> dict[str, LlamaLLM]:
    found = {}
    for model in registry.MODELS:
        if model.role == "llm" and model.name != "smollm2-135m-instruct":
            try:
                found[model.name] = LlamaLLM(store.locate(model) / "model.gguf")
            except store.ModelError:
                continue
    return found


def run(rounds: int) -> dict[str, Any]:
    agent = DEFAULT_AGENT.deterministic()
    prefix = [
        {"role": "system", "content": agent.system_prompt},
        {"role": "assistant", "content": agent.greeting},
    ]
    llms = installed_llms()
    rows: dict[str, dict[str, Any]] = {}
    for name, llm in llms.items():
        llm.load()
        start = time.perf_counter()
        for _ in llm.stream([*prefix, {"role": "user", "content": "Hello"}], max_tokens=1):
            pass
        prompt_ms = (time.perf_counter() - start) * 1000
        rows[name] = {"prompt": prompt_ms, "first": [], "per": [], "answers": {}}
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
    report: dict[str, Any] = {"default": DEFAULT, "models": {}}
    for name, row in rows.items():
        report["models"][name] = {
            "file_mb": round(llms[name].path.stat().st_size / 1e6),
            "whole_prompt_ms": round(row["prompt"], 1),
            "first_token_p50_ms": round(statistics.median(row["first"]), 1),
            "per_token_p50_ms": round(statistics.median(row["per"]), 1),
            "answers": row["answers"],
        }
    base = report["models"].get(DEFAULT)
    for entry in report["models"].values():
        entry["vs_default"] = {k: round(entry[k] / base[k], 2) for k in KEYS} if base else {}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.llm", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    report = run(args.rounds)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"time relative to the default ({report['default']}) in brackets")
    for name, m in report["models"].items():
        ratio = m["vs_default"]
        print(
            f"{name:34} {m['file_mb']:5} MB  "
            + "  ".join(
                f"{k.removesuffix('_ms')} {m[k]:7.1f} ms ({ratio.get(k, '-')}x)" for k in KEYS
            )
        )
    for question in QUESTIONS:
        print(f"\n{question}")
        for name, m in report["models"].items():
            print(f"  {name:34} {m['answers'][question]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
