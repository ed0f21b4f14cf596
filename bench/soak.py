"""Soak: SIP calls at the configured capacity, back to back, against a real
`mediaserver serve`, with its RSS, open descriptors and threads sampled.

    python -m bench.soak [--minutes 30] [--json]

Four pjsua2 callers (tests/sip_caller.py, a process per call; the server's
sip.max_calls is 4) each ask a spoken question a few seconds in and hang up
after --call-seconds, then call again. The real models answer (no fake speech
port). Each sample is taken once a minute (--sample-seconds); the first
samples up to --warmup-minutes are the warm-up. Goals: RSS growth after the
warm-up < 5 % (the lowest RSS of the second half of the samples after the
warm-up against the lowest of the first half), descriptors and threads flat
(no more than a call's worth above the warm-up level), every answered call
recorded (a call record with its end and a recording file).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mediaserver.harness import read_wav, write_wav
from tests.server import Server, start_server, stop_server

CALLERS = 4  # sip.max_calls: the configured capacity
RSS_GOAL = 0.05
FD_SLACK = 8  # descriptors a call in progress holds (RTP, RTCP, recording, ...) x a margin
THREAD_SLACK = 4


@dataclass(frozen=True, slots=True)
class Sample:
    at_s: float
    rss_mb: float
    fds: int
    threads: int
    calls_done: int


def sample(pid: int, started: float, calls_done: int) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return Sample(
        at_s=round(time.monotonic() - started, 1),
        rss_mb=round(int(fields["VmRSS"].split()[0]) / 1024, 1),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=int(fields["Threads"]),
        calls_done=calls_done,
    )


class Callers:
    """CALLERS threads, each placing calls back to back until `stop` is set."""

    def __init__(self, server: Server, question: Path, call_seconds: float) -> None:
        self.server = server
        self.question = question
        self.call_seconds = call_seconds
        self.stop = threading.Event()
        self.placed = 0
        self.connected = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(CALLERS)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(self.call_seconds + 60)

    def _loop(self) -> None:
        while not self.stop.is_set():
            result = self._call()
            with self._lock:
                self.placed += 1
                if result.get("connected"):
                    self.connected += 1
                elif len(self.failures) < 20:
                    self.failures.append(json.dumps(result))

    def _call(self) -> dict[str, Any]:
        args = [sys.executable, "-m", "tests.sip_caller", "--to", self.server.uri]
        args += ["--play", str(self.question), "--play-at", "4.5"]
        args += ["--seconds", str(self.call_seconds)]
        try:
            out = subprocess.run(
                args, capture_output=True, text=True, timeout=self.call_seconds + 60, check=False
            )
            return dict(json.loads(out.stdout.strip().splitlines()[-1]))
        except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
            return {"connected": False, "error": repr(exc)}


def records(server: Server) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = server.api(f"/calls?limit=200&offset={len(items)}").json()
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            return items


def run(
    minutes: float,
    sample_seconds: float,
    warmup_minutes: float,
    call_seconds: float,
    mmap_threshold: int | None = None,
) -> dict[str, Any]:
    """`mmap_threshold`: the server's glibc gives blocks of at least that many
    bytes back to the system when freed (README, Memory over many calls), so
    its RSS follows what it holds, not what its allocator keeps at hand."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        subprocess.run(
            ["espeak-ng", "-w", str(tmp / "q.wav"), "What time do you open on Saturday?"],
            check=True,
        )
        write_wav(tmp / "q16.wav", read_wav(tmp / "q.wav", 60))
        (tmp / "server").mkdir()
        env = {} if mmap_threshold is None else {"MALLOC_MMAP_THRESHOLD_": str(mmap_threshold)}
        server = start_server(tmp / "server", env=env)
        callers = Callers(server, tmp / "q16.wav", call_seconds)
        samples: list[Sample] = []
        try:
            started = time.monotonic()
            samples.append(sample(server.proc.pid, started, 0))
            callers.start()
            end = started + minutes * 60
            while time.monotonic() < end and server.alive():
                time.sleep(min(sample_seconds, max(0.0, end - time.monotonic())))
                if server.alive():
                    samples.append(sample(server.proc.pid, started, callers.connected))
            callers.join()
            alive = server.alive()
            if not alive:  # the figures end here: say why
                return {"server_alive": False, "log_tail": server.tail(60)}
            time.sleep(3)  # the last calls' records and recordings are closed
            samples.append(sample(server.proc.pid, started, callers.connected))
            stored = records(server)
            for record in stored:  # while the data folder is still there
                path = record["recording_path"]
                record["recording_exists"] = bool(path) and Path(path).is_file()
        finally:
            stop_server(server)
    return report(
        samples=samples,
        callers=callers,
        stored=stored,
        alive=alive,
        minutes=minutes,
        warmup_minutes=warmup_minutes,
        call_seconds=call_seconds,
        mmap_threshold=mmap_threshold,
    )


def report(
    *,
    samples: list[Sample],
    callers: Callers,
    stored: list[dict[str, Any]],
    alive: bool,
    minutes: float,
    warmup_minutes: float,
    call_seconds: float,
    mmap_threshold: int | None = None,
) -> dict[str, Any]:
    warm = next((s for s in samples if s.at_s >= warmup_minutes * 60), samples[-1])
    last = samples[-1]
    # RSS is compared floor to floor: a sample taken while a model decodes holds
    # its scratch buffers (tens of MB, gone a moment later); a leak raises the floor
    after = [s for s in samples if s.at_s >= warm.at_s]
    half = max(1, len(after) // 2)
    floor_warm = min(s.rss_mb for s in after[:half])
    floor_last = min(s.rss_mb for s in after[half:] or after[-1:])
    answered = [r for r in stored if r["answered_at"]]
    unrecorded = [r["id"] for r in answered if not r["ended_at"] or not r["recording_exists"]]
    growth = (floor_last - floor_warm) / floor_warm
    return {
        "minutes": minutes,
        "callers": CALLERS,
        "call_seconds": call_seconds,
        "speech": "real models (the server's configured ones), a spoken question per call",
        "server_mmap_threshold": mmap_threshold,  # None: glibc's own (it keeps freed blocks)
        "calls_placed": callers.placed,
        "calls_answered": callers.connected,
        "records_answered": len(answered),
        "answered_without_a_full_record": unrecorded[:20],
        "caller_failures": callers.failures,
        "rss_mb_warm": warm.rss_mb,
        "rss_mb_last": last.rss_mb,
        "rss_mb_floor_first_half": floor_warm,
        "rss_mb_floor_second_half": floor_last,
        "rss_growth_after_warmup": round(growth, 4),
        "rss_mb_peak_after_warmup": max(s.rss_mb for s in samples if s.at_s >= warm.at_s),
        "fds_warm": warm.fds,
        "fds_last": last.fds,
        "threads_warm": warm.threads,
        "threads_last": last.threads,
        "server_alive": alive,
        "goals": {
            "rss_growth_below_5_percent": growth < RSS_GOAL,
            "fds_flat": last.fds <= warm.fds + FD_SLACK,
            "threads_flat": last.threads <= warm.threads + THREAD_SLACK,
            "every_answered_call_recorded": not unrecorded
            and len(answered) >= callers.connected > 0,
        },
        "samples": [asdict(s) for s in samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument("--warmup-minutes", type=float, default=5.0)
    parser.add_argument("--call-seconds", type=float, default=12.0)
    parser.add_argument(
        "--mmap-threshold",
        type=int,
        help="bytes: the server's allocator returns freed blocks this large (a leak hunt)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    warmup = min(args.warmup_minutes, args.minutes / 3)
    result = run(args.minutes, args.sample_seconds, warmup, args.call_seconds, args.mmap_threshold)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            if key != "samples":
                print(f"{key}: {value}")
        for s in result["samples"]:
            print(
                f"  {s['at_s']:>7.1f} s  rss {s['rss_mb']:>7.1f} MB  fds {s['fds']:>4}"
                f"  threads {s['threads']:>3}  calls {s['calls_done']}"
            )
    return 0 if all(result["goals"].values()) and result["server_alive"] else 1


if __name__ == "__main__":
    sys.exit(main())
