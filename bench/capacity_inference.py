"""How many conversations at once: the models in process against the
inference service, same models, same run.

    python -m bench.capacity --inference [--json] [--sizes 1,2,3] [--questions 2]
                                         [--arrivals SECONDS]

N simulated callers talk at once, through the same session and turn engine
as a live call (mediaserver/harness.py): espeak-ng and Piper voices, each question
after the agent's greeting and then 2-6 s after the agent's likely answer,
like people. The calls arrive at random over the first `--arrivals`
seconds (default 10: about one turn's cycle of question, answer and pause),
so their turns come as they do on a box in steady state; with 0 every call
arrives at the same moment and the N first questions come in the same
20 ms, a burst no box clears faster than N turns' work one after another.

Backends: "local" (LocalSpeech in this process) and "service" (`mediaserver
inference` in its own process, RemoteSpeech over loopback HTTP),
interleaved N by N, each warmed by one unmeasured conversation first. Per
N and backend: voice-to-voice p50/p95 and the CPU-seconds a second of call
costs (this process plus the service's), and the turns answered with the
fallback phrase (a model refused or failed). The largest N up to which
every N measured holds p95 <= 1.5 s with no such turn, and the compute
bound: cores / the CPU-seconds a conversation costs per second of call (at
N=1).

On a shared 2-core box the figures are contended: compare the backends in
the same run, not runs with each other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.latency import QUESTIONS, percentile
from bench.turns_audio import Voices
from mediaserver.agents import DEFAULT_AGENT, Agent
from mediaserver.config import ModelsConfig, VadConfig
from mediaserver.harness import TalkResult, talk
from mediaserver.services.factory import local_speech
from mediaserver.services.remote import RemoteSpeech
from mediaserver.speech import Speech

RATE = 16000
AGENT_SECONDS = 4.0  # a typical answer: the caller waits for it, then 2-6 s more
ARRIVALS_S = 10.0  # calls arrive over this long: a question, its answer and a pause
P95_LIMIT_MS = 1500.0


def conversations(n: int, questions: int, voices: Voices) -> list[np.ndarray]:
    """Each caller's side: `questions` questions, human gaps, seven voices in
    turn (four espeak-ng, three Piper at several speeds)."""
    out = []
    pad = np.zeros(RATE // 2, np.int16)
    for i in range(n):
        rng = random.Random(i)
        parts: list[np.ndarray] = []
        for k in range(questions):
            said, _voice = voices.say(QUESTIONS[(i * 3 + k) % len(QUESTIONS)], i + k)
            parts += [pad, said, pad]
            if k < questions - 1:
                gap = AGENT_SECONDS + rng.uniform(2.0, 6.0)
                parts.append(np.zeros(int(gap * RATE), np.int16))
        out.append(np.concatenate(parts))
    return out


def cpu_seconds(pid: int | None) -> float:
    """CPU time of this process, plus the service's if given."""
    total = time.process_time()
    if pid is not None:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@dataclass
class Served:
    v2v_ms: list[float]  # every turn's voice-to-voice
    seconds: float  # of call, all calls together
    fallbacks: int  # turns answered with the fallback phrase (a model refused or failed)


def arrivals(n: int, over_s: float) -> list[float]:
    """When each of n calls arrives (s): the first at once, the others at random."""
    rng = random.Random(n)
    return [0.0, *sorted(rng.uniform(0.0, over_s) for _ in range(n - 1))]


async def run_calls(
    speech: Speech,
    audios: list[np.ndarray],
    agent: Agent,
    vad: VadConfig,
    arrive_over_s: float = 0.0,
) -> Served:
    """N conversations at once."""

    async def call(audio: np.ndarray, arrives: float) -> TalkResult:
        await asyncio.sleep(arrives)
        return await talk(audio, agent, speech, vad)

    offsets = arrivals(len(audios), arrive_over_s)
    results = await asyncio.gather(*(call(a, at) for a, at in zip(audios, offsets, strict=True)))
    turns = [t for r in results for t in r.turns]
    return Served(
        [float(t.voice_to_voice_ms) for t in turns if t.voice_to_voice_ms],
        sum(r.agent_audio.size for r in results) / RATE,
        sum(t.agent_text == agent.fallback for t in turns),
    )


def start_service(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediaserver", "inference", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the inference service did not start")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(sizes: list[int], questions: int, arrive_over_s: float) -> dict[str, Any]:
    agent, vad, models = DEFAULT_AGENT.deterministic(), VadConfig(), ModelsConfig()
    local = local_speech(models, agent.language)
    local.load(agent.system_prompt, agent.greeting)
    port = free_port()
    service = start_service(port)
    remote = ModelsConfig(backend="remote", url=f"http://127.0.0.1:{port}/v1", timeout_seconds=30)
    rows: list[dict[str, Any]] = []

    async def through_service(audios: list[np.ndarray]) -> Served:
        async with httpx.AsyncClient(timeout=30) as client:
            speech = RemoteSpeech(remote, client)
            await speech.prime([agent.greeting])
            return await run_calls(speech, audios, agent, vad, arrive_over_s)

    try:
        with contextlib.closing(Voices()) as voices:
            # one unmeasured conversation each: the first request's model
            # warm-up and prompt cache are not what a conversation costs
            warm = conversations(1, 1, voices)
            asyncio.run(run_calls(local, warm, agent, vad))
            asyncio.run(through_service(warm))
            for index, n in enumerate(sizes):
                audios = conversations(n, questions, voices)
                order = ["local", "service"] if index % 2 == 0 else ["service", "local"]
                for backend in order:
                    pid = service.pid if backend == "service" else None
                    before = cpu_seconds(pid)
                    if backend == "local":
                        served = asyncio.run(run_calls(local, audios, agent, vad, arrive_over_s))
                    else:
                        served = asyncio.run(through_service(audios))
                    cpu = cpu_seconds(pid) - before
                    rows.append(
                        {
                            "n": n,
                            "backend": backend,
                            "turns": len(served.v2v_ms),
                            "fallbacks": served.fallbacks,
                            "p50_ms": round(percentile(served.v2v_ms, 50)),
                            "p95_ms": round(percentile(served.v2v_ms, 95)),
                            "cpu_per_call_second": round(cpu / served.seconds, 3),
                        }
                    )
    finally:
        local.close()
        service.terminate()
        service.wait(20)
    return {**report(rows), "arrivals_s": arrive_over_s}


def report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    max_n = {}
    for backend in ("local", "service"):
        max_n[backend] = 0
        for r in sorted((r for r in rows if r["backend"] == backend), key=lambda r: r["n"]):
            # a turn refused is worse than a slow one; a failing N ends the count
            if r["p95_ms"] > P95_LIMIT_MS or r.get("fallbacks"):
                break
            max_n[backend] = r["n"]
    cores = os.cpu_count() or 1
    single = [r["cpu_per_call_second"] for r in rows if r["n"] == min(r2["n"] for r2 in rows)]
    bound = round(cores / (sum(single) / len(single)), 2) if single else float("nan")
    return {"rows": rows, "max_n": max_n, "compute_bound_n": bound, "cores": cores}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.capacity --inference", description=__doc__
    )
    parser.add_argument("--inference", action="store_true", help="in process vs the service")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sizes", default="1,2,3", help="conversations at once")
    parser.add_argument("--questions", type=int, default=2, help="per conversation")
    parser.add_argument(
        "--arrivals",
        type=float,
        default=ARRIVALS_S,
        help="the calls arrive at random over this many seconds (0: all at once)",
    )
    args = parser.parse_args(argv)
    if args.arrivals < 0:
        parser.error("--arrivals: expected seconds >= 0")
    result = measure([int(s) for s in args.sizes.split(",")], args.questions, args.arrivals)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{'N':>3} {'backend':>8} {'turns':>6} {'fallback':>9} {'p50':>8} {'p95':>8} "
        f"{'CPU s/call s':>13}"
    )
    for r in result["rows"]:
        print(
            f"{r['n']:>3} {r['backend']:>8} {r['turns']:>6} {r['fallbacks']:>9} "
            f"{r['p50_ms']:>5} ms {r['p95_ms']:>5} ms {r['cpu_per_call_second']:>13}"
        )
    print(f"calls arrived over {result['arrivals_s']:g} s")
    print(f"largest N with p95 <= 1.5 s: {result['max_n']}")
    print(f"compute bound: {result['compute_bound_n']} conversations on {result['cores']} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
