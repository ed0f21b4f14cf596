"""Voice-to-voice latency of the whole pipeline on the bundled models.

    python -m bench.latency [--json] [--calls 8] [--peer | --against CONFIG | --transport T]

Each call is a varied synthetic caller (espeak-ng voice and speed, silence
around it) asking one question through the offline harness, in real time,
with the default models on this machine's CPU (or the config's device).
voice_to_voice = first agent audio out - end of the caller's speech.
With --peer, each caller also goes through the pipeline as it was before two
CPU choices (the LLM as published, not re-quantized to Q4_0; the LLM going on
while Piper speaks); with --against, through the pipeline another config file
describes (its models and [vad]: to try a change before making it the
default). The two run interleaved call by call, and the ratio is printed.
With --transport twilio|ws, each caller also calls an in-process server over
Twilio Media Streams or /ws/audio through a local client of that protocol
(bench/sockets.py), measured where the client hears it; the paired
difference to the harness is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mediaserver.agents import DEFAULT_AGENT
from mediaserver.config import load
from mediaserver.conversation.turns import Turn
from mediaserver.harness import read_wav, talk
from mediaserver.services.factory import local_speech

QUESTIONS = [
    "What time do you open on Saturday?",
    "Where are you located?",
    "How much is a cleaning?",
    "I would like to book a check-up next week.",
    "Do you take new patients?",
    "Which dentists work there?",
    "Are you open on Sunday?",
    "How much does a check-up cost?",
]
VOICES = [("en-us", 150), ("en-gb", 170), ("en-us", 135), ("en", 185)]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def caller(text: str, voice: str, speed: int, directory: Path) -> np.ndarray:
    path = directory / "caller.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    audio = read_wav(path, 60)
    pad = np.zeros(8000, np.int16)
    return np.concatenate([pad, audio, pad])


PEER_LLM = "qwen2.5-coder-0.5b-instruct"  # the LLM as published


def run(
    calls: int, config_path: Path | None, peer: bool = False, against: Path | None = None
) -> dict[str, Any]:
    """`calls` callers through the configured pipeline; with `peer` or
    `against`, each also through the peer pipeline, the two interleaved call
    by call so both see the same machine."""
    config = load(config_path)
    agent = DEFAULT_AGENT.deterministic()
    stacks = {"default": (local_speech(config.models, agent.language), config.vad)}
    peer_info: dict[str, Any] = {}
    if peer:
        published = local_speech(dataclasses.replace(config.models, llm=PEER_LLM), agent.language)
        published.cores.shared = False  # the models run at once, as a pipeline of threads does
        stacks["peer"] = (published, config.vad)
        peer_info = {"llm": PEER_LLM, "share_cores": False}
    elif against is not None:
        other = load(against)
        stacks["peer"] = (local_speech(other.models, agent.language), other.vad)
        peer_info = {"config": str(against), "llm": other.models.llm, "stt": other.models.stt}
    turns: dict[str, list[Turn]] = {name: [] for name in stacks}
    try:
        for speech, _ in stacks.values():
            speech.load(agent.system_prompt, agent.greeting)
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(calls):
                voice, speed = VOICES[i % len(VOICES)]
                audio = caller(QUESTIONS[i % len(QUESTIONS)], voice, speed, Path(tmp))
                order = list(stacks) if i % 2 == 0 else list(reversed(stacks))
                for name in order:
                    speech, vad = stacks[name]
                    result = asyncio.run(talk(audio, agent, speech, vad))
                    turns[name] += [t for t in result.turns if t.voice_to_voice_ms is not None]
    finally:
        for speech, _ in stacks.values():
            speech.close()
    report = {
        "device": config.models.device,
        "models": {"stt": config.models.stt, "llm": config.models.llm, "tts": config.models.tts},
        **summary(turns["default"]),
    }
    if "peer" in stacks:
        report["peer"] = {**peer_info, **summary(turns["peer"])}
        report["peer_p50_over_default_p50"] = round(
            report["peer"]["voice_to_voice_p50_ms"] / report["voice_to_voice_p50_ms"], 2
        )
    return report


def run_transport(calls: int, config_path: Path | None, transport: str) -> dict[str, Any]:
    """Each caller through the talk harness, then over `transport` to an
    in-process server on the same models, call by call."""
    from bench.sockets import call_over, in_process_server

    config = load(config_path)
    agent = DEFAULT_AGENT.deterministic()
    speech = local_speech(config.models, agent.language)
    harness: list[Turn] = []
    pairs: list[tuple[float, float | None, float | None]] = []

    async def interleaved(directory: Path) -> None:
        async with in_process_server(agent, speech, config.vad) as endpoint:
            for i in range(calls):
                voice, speed = VOICES[i % len(VOICES)]
                audio = caller(QUESTIONS[i % len(QUESTIONS)], voice, speed, directory)
                # alternate which goes first: the second gets llama.cpp's cached prompt
                if i % 2:
                    heard, measured = await call_over(transport, endpoint, audio)
                result = await talk(audio, agent, speech, config.vad)
                turns = [t for t in result.turns if t.voice_to_voice_ms is not None]
                harness.extend(turns)
                if not i % 2:
                    heard, measured = await call_over(transport, endpoint, audio)
                if turns and turns[0].voice_to_voice_ms is not None:
                    pairs.append((turns[0].voice_to_voice_ms, heard, measured))

    try:
        speech.load(agent.system_prompt, agent.greeting)
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(interleaved(Path(tmp)))
    finally:
        speech.close()
    client = [c for _, c, _ in pairs if c is not None]
    server = [s for _, _, s in pairs if s is not None]
    differences = [c - h for h, c, _ in pairs if c is not None]
    overhead = [c - s for _, c, s in pairs if c is not None and s is not None]
    return {
        "device": config.models.device,
        "models": {"stt": config.models.stt, "llm": config.models.llm, "tts": config.models.tts},
        **summary(harness),
        "transport": {
            "name": transport,
            "turns": len(client),
            "client_v2v_p50_ms": round(percentile(client, 50), 1),
            "server_v2v_p50_ms": round(percentile(server, 50), 1),
            "client_minus_harness_median_ms": round(percentile(differences, 50), 1),
            # the same call as heard by the client and as measured by the engine
            "client_minus_server_median_ms": round(percentile(overhead, 50), 1),
            "pairs_ms": pairs,
        },
    }


def summary(turns: list[Turn]) -> dict[str, Any]:
    v2v = [t.voice_to_voice_ms for t in turns if t.voice_to_voice_ms is not None]
    stages: dict[str, float] = {}
    names = ("stt_done", "first_token", "first_tts_audio", "first_audio_out")
    for name in names:
        values = [t.timings_ms[name] for t in turns if name in t.timings_ms]
        stages[f"{name}_p50_ms"] = round(statistics.median(values), 1) if values else float("nan")
    return {
        "turns": len(v2v),
        "voice_to_voice_p50_ms": round(percentile(v2v, 50), 1),
        "voice_to_voice_p95_ms": round(percentile(v2v, 95), 1),
        "stages_after_speech_end": stages,
        "samples": [
            {
                "user_text": t.user_text,
                "agent_text": t.agent_text,
                "voice_to_voice_ms": t.voice_to_voice_ms,
                "timings_ms": t.timings_ms,
            }
            for t in turns
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.latency", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--config", type=Path)
    peers = parser.add_mutually_exclusive_group()
    peers.add_argument(
        "--peer",
        action="store_true",
        help="also run each caller through the published LLM with the LLM running on "
        "while Piper speaks, interleaved, and print the ratio",
    )
    peers.add_argument(
        "--transport",
        choices=("twilio", "ws"),
        help="also run each caller over this WebSocket transport through a local client, "
        "interleaved, and print the difference",
    )
    peers.add_argument(
        "--against",
        type=Path,
        metavar="CONFIG",
        help="also run each caller through the pipeline of this config file, "
        "interleaved, and print the ratio",
    )
    args = parser.parse_args(argv)
    if args.transport:
        report = run_transport(args.calls, args.config, args.transport)
        if args.json:
            print(json.dumps(report, indent=1))
            return 0
        print_summary(f"{report['models']['llm']}, talk harness", report)
        over = report["transport"]
        print(
            f"over {args.transport} ({over['turns']} answers): voice-to-voice heard by the "
            f"client p50 {over['client_v2v_p50_ms']} ms, by the server "
            f"{over['server_v2v_p50_ms']} ms; paired median, client - harness: "
            f"{over['client_minus_harness_median_ms']} ms; the same calls, client - server: "
            f"{over['client_minus_server_median_ms']} ms"
        )
        return 0
    report = run(args.calls, args.config, args.peer, args.against)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print_summary(f"{report['models']['llm']}, models taking turns on the cores", report)
    if "peer" in report:
        title = args.against or f"{PEER_LLM}, both models at once"
        print_summary(f"peer: {title}", report["peer"])
        print(f"peer p50 / default p50: {report['peer_p50_over_default_p50']}x")
    return 0


def print_summary(title: str, report: dict[str, Any]) -> None:
    print(
        f"{title}: {report['turns']} turns, voice-to-voice p50 "
        f"{report['voice_to_voice_p50_ms']} ms, p95 {report['voice_to_voice_p95_ms']} ms"
    )
    for name, value in report["stages_after_speech_end"].items():
        print(f"  {name:24} {value} ms")
    for s in report["samples"]:
        print(f"  {s['voice_to_voice_ms']:7} ms  {s['user_text']!r} -> {s['agent_text']!r}")


if __name__ == "__main__":
    sys.exit(main())
