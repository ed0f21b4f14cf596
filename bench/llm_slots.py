"""Many calls asking one LLM server at once: aggregate tokens per second and
time to first token at each level of concurrency, against one stream alone
(the baseline, measured first in the same run).

    python -m bench.llm_slots http://127.0.0.1:8080 [--levels 1,4,16] [--tokens 64] [--json]

The server is any OpenAI-compatible one (llama-server --parallel N, vLLM, or
`mediaserver inference`). Each stream asks for exactly --tokens tokens
(`ignore_eos`, where the server honours it), so rates compare like with like."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import asdict, dataclass

import httpx

PROMPT = (
    "You are Sam, the receptionist at Riverside Dental. Reply in one short sentence. "
    "The caller says: I'd like to book a cleaning next Tuesday morning, is that possible?"
)


@dataclass
class Level:
    streams: int
    tokens_per_s: float  # all streams together
    per_stream_tokens_per_s: float  # median
    first_token_ms_p50: float
    first_token_ms_p95: float
    speedup: float = 1.0  # tokens_per_s against one stream


async def _stream(client: httpx.AsyncClient, url: str, tokens: int) -> tuple[float, float, int]:
    body = {
        "model": "llm",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": tokens,
        "temperature": 0.7,
        "stream": True,
        "ignore_eos": True,
    }
    start = time.perf_counter()
    first = 0.0
    pieces = 0
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0].get("delta", {})
            if delta.get("content"):
                pieces += 1
                if not first:
                    first = time.perf_counter() - start
    return first, time.perf_counter() - start, pieces


async def measure(url: str, streams: int, tokens: int) -> Level:
    limits = httpx.Limits(max_connections=streams + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        await _stream(client, url, 4)  # warm
        start = time.perf_counter()
        results = await asyncio.gather(*(_stream(client, url, tokens) for _ in range(streams)))
        wall = time.perf_counter() - start
    firsts = sorted(r[0] * 1000 for r in results)
    total = sum(r[2] for r in results)
    return Level(
        streams=streams,
        tokens_per_s=total / wall,
        per_stream_tokens_per_s=statistics.median(r[2] / r[1] for r in results),
        first_token_ms_p50=statistics.median(firsts),
        first_token_ms_p95=firsts[min(len(firsts) - 1, int(len(firsts) * 0.95))],
    )


async def run(url: str, levels: list[int], tokens: int) -> list[Level]:
    rows = [await measure(url, n, tokens) for n in levels]
    for row in rows:
        row.speedup = row.tokens_per_s / rows[0].tokens_per_s
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    rows = asyncio.run(run(args.url.rstrip("/"), levels, args.tokens))
    if args.json:
        print(json.dumps({"levels": [asdict(r) for r in rows]}))
        return
    head = ("streams", "tok/s all", "x one", "tok/s each", "TTFT p50", "p95")
    print("{:>7} {:>10} {:>6} {:>10} {:>9} {:>7}".format(*head))
    for r in rows:
        print(
            f"{r.streams:>7} {r.tokens_per_s:>10.1f} {r.speedup:>6.2f} "
            f"{r.per_stream_tokens_per_s:>10.1f} {r.first_token_ms_p50:>7.0f}ms "
            f"{r.first_token_ms_p95:>5.0f}ms"
        )


if __name__ == "__main__":
    main()
