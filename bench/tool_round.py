"""The voice-to-voice cost of one tool round, on the bundled models.

    python -m bench.tool_round [--json] [--rounds 1] [--tool-ms 0]

What the caller waits for after they stop speaking, less the transcription
(the same either way): the question answered straight (baseline), and the
same question answered through one tool round (the LLM writes the call, the
tool answers on loopback after --tool-ms, the LLM answers again), each up to
the first synthesized audio of the answer. A tool slower than the filler
delay is heard sooner: first_audio_ms counts the filler. The cost is the
difference; the ratio is against the baseline of the same run.

`tool_round_cost()` is the function bench.agent calls with its own Speech.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from mediaserver.config_models import ModelsConfig
from mediaserver.conversation.clauses import ClauseSplitter
from mediaserver.conversation.tool_round import ToolPhrases, ToolRound
from mediaserver.modelset import model_set
from mediaserver.netguard import networks
from mediaserver.services.local import LocalSpeech
from mediaserver.speech import Message, Speech
from mediaserver.tools.http import HttpTools
from mediaserver.tools.spec import Tool

SYSTEM = (
    "You are Sam, the assistant at Acme Shop, answering the phone. "
    "Reply in one short spoken sentence."
)
QUESTION = "Hi, can you look up order 1234 for me?"
ORDER = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "description": "the order number"}},
    "required": ["order_id"],
}


async def _first_audio(speech: Speech, pieces: Any, skip: str = "") -> tuple[float, float, str]:
    """(ms to the first clause's audio, ms to the first that is not `skip`, that clause)."""
    start = time.perf_counter()
    splitter = ClauseSplitter()
    first_ms: float | None = None

    async def clause_done(clause: str) -> float:
        await speech.synthesize(clause, first=True)
        return (time.perf_counter() - start) * 1000

    try:
        async for piece in pieces:
            for clause in splitter.feed(piece):
                ms = await clause_done(clause)
                first_ms = first_ms if first_ms is not None else ms
                if clause != skip:
                    return first_ms, ms, clause
        if rest := splitter.flush():
            ms = await clause_done(rest)
            return first_ms if first_ms is not None else ms, ms, rest
    finally:
        await pieces.aclose()
    raise RuntimeError("the model said nothing")


async def tool_round_cost(
    speech: Speech,
    tool: Tool,
    runner: Any,
    messages: list[Message],
    *,
    max_tokens: int = 40,
    phrases: ToolPhrases | None = None,
) -> dict[str, Any]:
    """One measure: the answer straight, then through one tool round (ms to
    first answer audio each, and the cost). `runner` is a ToolRunner."""
    phrases = phrases or ToolPhrases()
    straight = speech.reply(messages, max_tokens, 0.0)
    _, baseline_ms, baseline_said = await _first_audio(speech, straight)
    calls: list[Any] = []
    round_ = ToolRound(
        speech, (tool,), runner, lambda tool, args: None, calls.append, phrases=phrases
    )
    first_ms, answer_ms, said = await _first_audio(
        speech, round_.pieces(messages, max_tokens, 0.0), skip=phrases.filler
    )
    return {
        "baseline_ms": round(baseline_ms, 1),
        "tool_round_ms": round(answer_ms, 1),
        "first_audio_ms": round(first_ms, 1),
        "cost_ms": round(answer_ms - baseline_ms, 1),
        "tool_calls": [(c.name, c.status, c.latency_ms) for c in calls],
        "said": {"baseline": baseline_said, "tool_round": said},
    }


async def _serve_tool(delay_s: float) -> asyncio.Server:
    """A loopback tool that answers every request with one JSON body after `delay_s`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(delay_s)
        body = b'{"order": "1234", "status": "shipped", "arrives": "Friday"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def run(rounds: int, tool_ms: float) -> dict[str, Any]:
    models = model_set(ModelsConfig())
    assert models.llm is not None  # the default config loads its own
    speech = LocalSpeech(models.stt, models.llm, models.tts)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, models.llm.load)
    await loop.run_in_executor(None, models.tts.load)
    server = await _serve_tool(tool_ms / 1000)
    port = server.sockets[0].getsockname()[1]
    tool = Tool(
        "lookup_order",
        "Look up a customer's order by its number.",
        ORDER,
        url=f"http://127.0.0.1:{port}/order",
        method="GET",
    )
    runner = HttpTools("bench", networks(("127.0.0.1/32",)))
    messages: list[Message] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION},
    ]
    try:
        async for _ in speech.reply(messages, 1, 0.0, tools=[tool.for_llm()]):  # warm the cache
            pass
        await speech.synthesize("One moment, let me check.")  # onnxruntime's first run
        runs = [await tool_round_cost(speech, tool, runner, messages) for _ in range(rounds)]
    finally:
        await runner.aclose()
        server.close()
        speech.close()
    keys = ("baseline_ms", "tool_round_ms", "first_audio_ms", "cost_ms")
    median = {k: round(statistics.median(r[k] for r in runs), 1) for k in keys}
    return {
        "llm": ModelsConfig().llm,
        "tool_ms": tool_ms,
        "rounds": rounds,
        **median,
        "vs_baseline": round(median["tool_round_ms"] / median["baseline_ms"], 2),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tool_round", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tool-ms", type=float, default=0.0, help="the tool's own latency")
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.rounds, args.tool_ms))
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(
        f"{report['llm']}, tool answering after {report['tool_ms']:g} ms, medians of {args.rounds}"
    )
    print(f"  answered straight      {report['baseline_ms']:8.1f} ms to first answer audio")
    print(
        f"  through one tool round {report['tool_round_ms']:8.1f} ms "
        f"({report['vs_baseline']}x), first audio {report['first_audio_ms']:.1f} ms"
    )
    print(f"  cost of the round      {report['cost_ms']:8.1f} ms")
    for name, said in report["runs"][-1]["said"].items():
        print(f"  {name}: {said}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
