"""Voice-to-voice latency of the whole pipeline on the bundled models.

    python -m bench.latency [--json] [--calls 8]

Each call is a varied synthetic caller (espeak-ng voice and speed, silence
around it) asking one question through the offline harness, in real time,
with the default models on this machine's CPU (or the config's device).
voice_to_voice = first agent audio out - end of the caller's speech.
"""

from __future__ import annotations

import argparse
import asyncio
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


def run(calls: int, config_path: Path | None) -> dict[str, Any]:
    config = load(config_path)
    agent = DEFAULT_AGENT.deterministic()
    speech = local_speech(config.models, agent.language)
    speech.load(agent.system_prompt, agent.greeting)
    turns = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(calls):
                voice, speed = VOICES[i % len(VOICES)]
                audio = caller(QUESTIONS[i % len(QUESTIONS)], voice, speed, Path(tmp))
                result = asyncio.run(talk(audio, agent, speech, config.vad))
                turns += [t for t in result.turns if t.voice_to_voice_ms is not None]
    finally:
        speech.close()
    v2v = [t.voice_to_voice_ms for t in turns if t.voice_to_voice_ms is not None]
    stages: dict[str, float] = {}
    names = ("stt_done", "first_token", "first_tts_audio", "first_audio_out")
    for name in names:
        values = [t.timings_ms[name] for t in turns if name in t.timings_ms]
        stages[f"{name}_p50_ms"] = round(statistics.median(values), 1) if values else float("nan")
    return {
        "device": config.models.device,
        "models": {"stt": config.models.stt, "llm": config.models.llm, "tts": config.models.tts},
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
    args = parser.parse_args(argv)
    report = run(args.calls, args.config)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(
            f"{report['turns']} turns on {report['device']}: voice-to-voice p50 "
            f"{report['voice_to_voice_p50_ms']} ms, p95 {report['voice_to_voice_p95_ms']} ms"
        )
        for name, value in report["stages_after_speech_end"].items():
            print(f"  {name:24} {value} ms")
        for s in report["samples"]:
            print(f"  {s['voice_to_voice_ms']:7} ms  {s['user_text']!r} -> {s['agent_text']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
