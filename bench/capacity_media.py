"""How many SIP calls the media plane holds: a cluster on loopback.

    python -m bench.capacity --media [--json] [--steps 4,8,12] [--workers 3]
                                     [--rate 10] [--audio-repeats 1] [--media-realtime 10]

Starts `mediaserver serve --workers W` (Kamailio edge, W pjsua2 workers)
with the speech port replaced by the FIXED-ANSWER fake (MEDIASERVER_FAKE_SPEECH:
declared in the output), so the media plane's own limit shows. For each
step N: N concurrent sipp calls through the edge, each with G.711 RTP from
sipp's pcap and RFC 2833 DTMF, placed --rate calls a second (all N up
after N/rate seconds), the caller's 8 s of audio played --audio-repeats
times before the DTMF and the BYE (with 1, the default, a call lasts ~10 s:
at 10 calls/s N calls overlap for only a few seconds and the figures are
mostly of the ramp; more repeats measure N calls talking in steady state).
A step holds when every call is answered,
greeted and recorded and every call's frame-gap p99 at the worker (pjsua2's
media clock asking for our frames) is <= 30 ms. Also: memory per worker
(RSS, sampled mid-step). `--media-realtime 0` runs the workers' media threads
on their nice value instead of SCHED_RR. The box is shared: read the figures
as a floor.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.cluster import sipp, sipp_scenario_via_edge, start_cluster, stop_cluster

GAP_P99_LIMIT_MS = 30.0
AUDIO_SECONDS = 8.0  # sipp's g711a.pcap, and the pause the scenario gives it
SPEECH = "FIXED-ANSWER fake (MEDIASERVER_FAKE_SPEECH=1): no models run"


def audio_repeated(scenario: str, repeats: int) -> str:
    """The scenario with its caller audio (a pcap played, then a pause as long) `repeats` times."""
    block = re.search(
        r'  <nop>\s*<action>\s*<exec play_pcap_audio="[^"]*g711a\.pcap"/>.*?<pause[^>]*/>\n',
        scenario,
        re.S,
    )
    if block is None:
        raise ValueError("no caller audio found in the scenario")
    return scenario[: block.start()] + block.group(0) * repeats + scenario[block.end() :]


def rss_mb(pid: int) -> float | None:
    """None: the process is gone (a worker that died mid-step)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def step(
    srv: Any, scenario: Path, calls: int, workers: dict[str, int], *, rate: int, hold_s: float
) -> dict[str, Any]:
    """One step: `hold_s` is how much longer than one pass of the audio a call lasts."""
    since = srv.mark()
    before = {r["id"] for r in srv.api("/calls?limit=200").json()["items"]}
    run = sipp(
        scenario,
        srv.sip_port,
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-r",
        str(rate),
        timeout=90 + hold_s,
    )
    time.sleep(min(6.0 + hold_s / 2, 1.0 + calls / rate + hold_s / 2))  # every call up
    memory = {name: rss_mb(pid) for name, pid in workers.items()}
    out = run.communicate(timeout=180 + hold_s)[0]
    deadline = time.monotonic() + 30
    new: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        new = [r for r in srv.api("/calls?limit=200").json()["items"] if r["id"] not in before]
        if len(new) >= calls and all(r["ended_at"] for r in new):
            break
        time.sleep(0.5)
    greeted = recorded = 0
    for record in new:
        detail = srv.api(f"/calls/{record['id']}").json()
        turns = detail["turns"]
        greeted += bool(turns and turns[0]["speaker"] == "agent")
        path = record["recording_path"]
        recorded += bool(path and Path(path).exists() and Path(path).stat().st_size > 44)
    log = srv.log.read_text(errors="replace")[since:]
    gaps = [float(g) for g in re.findall(r"pacing: \{[^}]*'gap_p99_ms': ([\d.]+)", log)]
    answered = sum(bool(r["answered_at"]) for r in new)
    died = re.findall(r"(w\d+ [^\n]*: restarting in)", log)
    crashes = [line for line in log.splitlines() if "Assertion" in line or "Fatal Python" in line]
    holds = (
        not died
        and run.returncode == 0
        and answered == greeted == recorded == calls
        and bool(gaps)
        and max(gaps) <= GAP_P99_LIMIT_MS
    )
    return {
        "calls": calls,
        "answered": answered,
        "greeted": greeted,
        "recorded": recorded,
        "sipp_ok": run.returncode == 0,
        "gap_p99_ms_max": max(gaps) if gaps else None,
        "gap_p99_ms_median": round(statistics.median(gaps), 2) if gaps else None,
        "worker_rss_mb": memory,
        "holds": holds,
        "sipp_tail": "" if run.returncode == 0 else out[-600:],
        "workers_restarted": died,
        "crash_lines": crashes[:5],
    }


def run(
    steps: list[int],
    workers: int,
    *,
    every_step: bool = False,
    rate: int = 10,
    repeats: int = 1,
    realtime: int = 10,
) -> dict[str, Any]:
    hold_s = AUDIO_SECONDS * (repeats - 1)
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp:
        root = Path(tmp)
        srv = start_cluster(
            root,
            workers,
            "invites_per_second = 100\npike_requests = 2000\n",
            sip_extra=f"media_realtime = {realtime}\n",
        )
        try:
            pids = {
                f"w{i}": int(m.group(1))
                for i in range(1, workers + 1)
                if (m := re.search(rf"w{i} started \(pid (\d+)\)", srv.log.read_text()))
            }
            scenario = root / "uac_pcap.xml"
            scenario.write_text(audio_repeated(sipp_scenario_via_edge("uac_pcap"), repeats))
            rows = []
            for calls in steps:
                row = step(srv, scenario, calls, pids, rate=rate, hold_s=hold_s)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                if not row["holds"] and not every_step:
                    break
        finally:
            stop_cluster(srv)
    held = [r["calls"] for r in rows if r["holds"]]
    return {
        "speech": SPEECH,
        "workers": workers,
        "calls_per_second": rate,
        "audio_repeats": repeats,
        "media_realtime": realtime,
        "gap_p99_limit_ms": GAP_P99_LIMIT_MS,
        "rows": rows,
        "max_calls": max(held, default=0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity --media", description=__doc__)
    parser.add_argument("--media", action="store_true", help="SIP calls through the cluster")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--steps", default="4,8,12", help="concurrent calls per step")
    parser.add_argument("--workers", type=int, default=0, help="default: enough for the last step")
    parser.add_argument("--every-step", action="store_true", help="go on past a step that fails")
    parser.add_argument("--rate", type=int, default=10, help="calls placed per second")
    parser.add_argument("--audio-repeats", type=int, default=1, help="8 s of caller audio, N times")
    parser.add_argument(
        "--media-realtime", type=int, default=10, help="[sip] media_realtime (0: media_nice)"
    )
    args = parser.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    workers = args.workers or math.ceil(max(steps) / 4)
    result = run(
        steps,
        workers,
        every_step=args.every_step,
        rate=args.rate,
        repeats=args.audio_repeats,
        realtime=args.media_realtime,
    )
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"speech: {result['speech']}")
    print(f"{args.rate} calls placed a second, the caller's audio played {args.audio_repeats}x")
    print(f"{workers} workers; a step holds when every call is greeted and recorded")
    print(f"and each call's frame-gap p99 <= {GAP_P99_LIMIT_MS:.0f} ms\n")
    print(f"{'calls':>5} {'answered':>8} {'greeted':>7} {'recorded':>8} {'gap p99 max':>11}  holds")
    for r in result["rows"]:
        print(
            f"{r['calls']:>5} {r['answered']:>8} {r['greeted']:>7} {r['recorded']:>8} "
            f"{r['gap_p99_ms_max'] or 0:>9.1f}ms  {'yes' if r['holds'] else 'NO'}"
        )
    last = result["rows"][-1]["worker_rss_mb"] if result["rows"] else {}
    print(f"\nmax_calls: {result['max_calls']}; worker RSS (MB) mid-call: {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
