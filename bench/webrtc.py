"""WebRTC media path under load: this server's echo mode beside a plain
aiortc echo server, measured in the same run.

    python -m bench.webrtc [--json] [--calls 5,10,20,40] [--seconds 15]

For each server and each N, a server process answers N aiortc peers that
run in a second process (the clients), each sending a 1 kHz beep every
second and listening to what comes back. Reported per run: the server's
CPU (share of one core, from /proc while all N calls run), calls per core,
frames lost at the clients, the beeps' echo delay and how much it grew from
the first to the last seconds (a server that falls behind drifts).

"mediaserver": mediaserver.transports.webrtc in echo mode (native jitter
buffer, libopus at 16 kHz with PLC, paced pre-encoded sending).
"aiortc-echo": aiortc's own path, as its examples do it: the remote track
added back to the connection (decoder thread, 48 kHz stereo, encoder).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

SERVERS = ("mediaserver", "aiortc-echo")
RATE = 48000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the server process ---------------------------------------------------------
async def serve(kind: str, port: int) -> None:
    """Answer offers (one JSON line each over TCP) until stdin closes."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from mediaserver.config import JitterConfig, WebRtcConfig
    from mediaserver.transports.call import CallHandler
    from mediaserver.transports.webrtc import WebRtcServer, use_host_addresses

    ours = WebRtcServer(
        WebRtcConfig(host_addresses=("127.0.0.1",), max_calls=1000),
        JitterConfig(),
        CallHandler(),
        echo=True,
    )
    plain: set[Any] = set()

    async def answer_plain(sdp: str) -> str:
        pc = RTCPeerConnection()
        plain.add(pc)

        @pc.on("track")
        def on_track(track: Any) -> None:
            pc.addTrack(track)  # echo: aiortc decodes, then re-encodes it

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        use_host_addresses(pc, ["127.0.0.1"])
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            offer = json.loads(line)
            if kind == "mediaserver":
                _, sdp = await ours.answer(offer["sdp"], "offer")
            else:
                sdp = await answer_plain(offer["sdp"])
            writer.write(json.dumps({"sdp": sdp, "type": "answer"}).encode() + b"\n")
            await writer.drain()

    server = await asyncio.start_server(on_client, "127.0.0.1", port)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()
    await ours.stop()
    for pc in plain:
        await pc.close()


# -- the client process ------------------------------------------------------------
def beeps(seconds: float) -> np.ndarray:
    audio = np.zeros(int(seconds * RATE), np.int16)
    t = np.arange(int(0.1 * RATE))
    beep = (9000 * np.sin(2 * np.pi * 1000 * t / RATE)).astype(np.int16)
    for start in range(1, int(seconds) - 1):
        audio[start * RATE : start * RATE + beep.size] = beep
    return audio


def echo_delays(sent_start: float, heard: Any) -> list[tuple[float, float]]:
    """(second the beep was sent, its echo delay) for every beep heard back,
    timed by the arrival of the frame it starts in (lost frames leave no gap)."""
    audio = heard.audio
    frames = audio[: audio.size // 480 * 480].reshape(-1, 480).astype(np.float64)
    loud = np.sqrt((frames**2).mean(axis=1)) > 2000
    rises = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    first_sample = np.cumsum([0] + [c.size for c in heard.chunks])
    out = []
    for rise in rises:
        frame = int(np.searchsorted(first_sample, rise * 480, side="right")) - 1
        arrival = heard.arrivals[min(frame, len(heard.arrivals) - 1)] - sent_start
        sent = np.floor(arrival - 0.01)  # the beep of that second (echo delay < 1 s)
        if sent >= 1:
            out.append((float(sent), float(arrival - sent)))
    return out


async def clients(port: int, calls: int, seconds: float) -> dict[str, Any]:
    from tests.webrtc_peer import Peer

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lock = asyncio.Lock()

    async def signal(offer: dict[str, str]) -> dict[str, Any]:
        async with lock:
            writer.write(json.dumps(offer).encode() + b"\n")
            await writer.drain()
            return dict(json.loads(await reader.readline()))

    audio = beeps(seconds + 2)
    peers = [Peer(audio) for _ in range(calls)]
    start = time.monotonic()
    for peer in peers:
        await asyncio.wait_for(peer.connect(signal), 30)
    connected = time.monotonic() - start
    print("connected", flush=True)  # the parent starts the CPU clock
    await asyncio.sleep(seconds)
    print("measured", flush=True)
    rows = []
    for peer in peers:
        heard = peer.heard
        if not heard.arrivals:
            rows.append({"frames": 0, "expected": seconds * 50, "delays": []})
            continue
        span = heard.arrivals[-1] - heard.started
        rows.append(
            {
                "frames": len(heard.arrivals),
                "expected": span * 50,
                "delays": echo_delays(peer.track._start or heard.started, heard),
            }
        )
    for peer in peers:
        await peer.close()
    writer.close()
    return {"connect_seconds": connected, "peers": rows}


# -- one measurement -----------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(kind: str, calls: int, seconds: float) -> dict[str, Any]:
    port = free_port()
    here = [sys.executable, "-m", "bench.webrtc"]
    server = subprocess.Popen(
        [*here, "_serve", kind, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None and server.stdin is not None
    try:
        assert server.stdout.readline().strip() == "ready"
        client = subprocess.Popen(
            [*here, "_clients", str(port), str(calls), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "connected"
        cpu0, wall0 = cpu_seconds(server.pid), time.monotonic()
        client0 = cpu_seconds(client.pid)
        assert client.stdout.readline().strip() == "measured"
        cpu1, wall1 = cpu_seconds(server.pid), time.monotonic()
        client1 = cpu_seconds(client.pid)
        result = json.loads(client.stdout.readline())
        client.wait(60)
    finally:
        server.stdin.close()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    core = (cpu1 - cpu0) / (wall1 - wall0)
    frames = sum(p["frames"] for p in result["peers"])
    expected = sum(p["expected"] for p in result["peers"])
    early: list[float] = []
    late: list[float] = []
    for peer in result["peers"]:
        for sent, delay in peer["delays"]:
            (early if sent <= 3 else late if sent >= seconds - 3 else []).append(delay)
    return {
        "server": kind,
        "calls": calls,
        "server_cpu_core": round(core, 3),
        # the peers share the box: near 1.0 the client, not the server, is the limit
        "client_cpu_core": round((client1 - client0) / (wall1 - wall0), 3),
        "calls_per_core": round(calls / core, 1) if core > 0 else None,
        "frames_lost_pct": round(100 * max(0.0, 1 - frames / expected), 2) if expected else None,
        "echo_delay_ms": round(1000 * statistics.median(early), 1) if early else None,
        "delay_growth_ms": round(1000 * (statistics.median(late) - statistics.median(early)), 1)
        if early and late
        else None,
        "connect_seconds": round(result["connect_seconds"], 2),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_serve":
        asyncio.run(serve(argv[1], int(argv[2])))
        return 0
    if argv and argv[0] == "_clients":
        result = asyncio.run(clients(int(argv[1]), int(argv[2]), float(argv[3])))
        print(json.dumps(result), flush=True)
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.webrtc", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--calls", default="5,10,20,40", help="comma-separated call counts")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured per run")
    args = parser.parse_args(argv)
    rows = []
    for calls in (int(n) for n in args.calls.split(",")):
        for kind in SERVERS:
            row = measure(kind, calls, args.seconds)
            rows.append(row)
            if not args.json:
                print(
                    f"{kind:12} {calls:3} calls: server {row['server_cpu_core']:.2f} core "
                    f"(clients {row['client_cpu_core']:.2f}), "
                    f"{row['calls_per_core']} calls/core, lost {row['frames_lost_pct']}%, "
                    f"echo delay {row['echo_delay_ms']} ms (growth {row['delay_growth_ms']} ms)",
                    flush=True,
                )
    ratios = {}
    for calls in {r["calls"] for r in rows}:
        ours, plain = (
            next(r for r in rows if r["calls"] == calls and r["server"] == k) for k in SERVERS
        )
        if ours["calls_per_core"] and plain["calls_per_core"]:
            ratios[str(calls)] = round(ours["calls_per_core"] / plain["calls_per_core"], 2)
    if args.json:
        print(json.dumps({"runs": rows, "calls_per_core_ratio": ratios}, indent=1))
    else:
        print("calls per core, mediaserver / aiortc-echo:", ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
