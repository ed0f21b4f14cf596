"""SIP calls against a real `mediaserver serve`: media pacing and latency.

    python -m bench.sip [--json] [--calls 4]

Starts the server on loopback, places N concurrent pjsua2 calls (separate
processes) that each ask a question after the greeting and record what they
hear. Reports, per call, the media thread's frame-gap p50/p99 and our
callback's cost (from the server), and voice_to_voice measured at the caller:
first agent sound after the question ends, minus the question's end.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mediaserver.harness import read_wav, write_wav
from tests.server import start_server, stop_server

PLAY_AT = 6.0
SECONDS = 18.0


def first_sound_after(audio: np.ndarray, start_s: float, rate: int = 16000) -> float | None:
    frames = audio[: audio.size // 320 * 320].reshape(-1, 320).astype(np.float64)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) / 32768 + 1e-9)
    loud = np.flatnonzero(level > -40)
    after = loud[loud * 0.02 >= start_s]
    return float(after[0] * 0.02) if after.size else None


def log_message(line: str) -> str:
    """The message of a server log line (JSON lines, or plain text)."""
    try:
        return str(json.loads(line)["msg"])
    except (ValueError, KeyError, TypeError):
        return line


def run(calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = start_server(tmp)  # as the integration tests start it
        log, sip_port = server.log, server.sip_port
        try:
            subprocess.run(
                ["espeak-ng", "-w", str(tmp / "q.wav"), "What time do you open on Saturday?"],
                check=True,
            )
            question = read_wav(tmp / "q.wav", 60)
            write_wav(tmp / "q16.wav", question)
            question_end = PLAY_AT + question.size / 16000
            callers = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tests.sip_caller",
                        "--to",
                        f"sip:agent@127.0.0.1:{sip_port}",
                        "--play",
                        str(tmp / "q16.wav"),
                        "--play-at",
                        str(PLAY_AT),
                        "--record",
                        str(tmp / f"heard{i}.wav"),
                        "--seconds",
                        str(SECONDS),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for i in range(calls)
            ]
            for c in callers:
                c.communicate(timeout=SECONDS + 60)
            time.sleep(2)
        finally:
            stop_server(server)
        messages = [log_message(line) for line in log.read_text(errors="replace").splitlines()]
        pacing = [
            json.loads(m.replace("'", '"'))
            for message in messages
            for m in re.findall(r"pacing: (\{.*\})", message)
        ]
        v2v = []
        for i in range(calls):
            heard = read_wav(tmp / f"heard{i}.wav", 120)
            first = first_sound_after(heard, question_end + 0.05)
            if first is not None:
                v2v.append(round(1000 * (first - question_end), 1))
    gaps99 = [p["gap_p99_ms"] for p in pacing if p]
    return {
        "calls": calls,
        "frame_gap_p50_ms": statistics.median(p["gap_p50_ms"] for p in pacing if p)
        if pacing
        else None,
        "frame_gap_p99_ms_worst_call": max(gaps99) if gaps99 else None,
        "callback_us_p50": statistics.median(p["callback_p50_us"] for p in pacing if p)
        if pacing
        else None,
        "callback_us_p99_worst_call": max(p["callback_p99_us"] for p in pacing if p)
        if pacing
        else None,
        "voice_to_voice_ms_at_caller": v2v,
        "voice_to_voice_ms_at_caller_p50": statistics.median(v2v) if v2v else None,
        "per_call_pacing": pacing,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sip", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--calls", type=int, default=4)
    args = parser.parse_args(argv)
    report = run(args.calls)
    print(
        json.dumps(report, indent=1)
        if args.json
        else "\n".join(f"{k}: {v}" for k, v in report.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
