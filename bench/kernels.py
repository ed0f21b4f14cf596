"""Every native kernel beside its peers, in one run on the same input.

    python -m bench.kernels            # a readable table
    python -m bench.kernels --json     # a JSON list of rows

Rows: kernel, case, impl, us_per_frame_median (one 20 ms frame, or one
packet for the jitter buffer), x_realtime (20 ms / that), added_delay_ms
(resamplers: the streaming output's lag behind the ideal, measured by
cross-correlation; it includes audio a library holds back) and quality_db
(resamplers: the worst alias/image landing in the pass band, below a full
tone). null where a field does not apply. Our own rows have impl
"mediaserver"; "mediaserver-python" rows are the pure-Python references.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import peers
from bench.audio_metrics import rejection_db
from native import _g711_ref, _jitter_ref, _playout_ref, g711, jitter, playout, resample

FRAME_US = 20_000.0
Row = dict[str, Any]
Timer = Callable[[Callable[[], object]], float]


def time_per_call(fn: Callable[[], object], target_s: float = 0.2, repeats: int = 7) -> float:
    """Median microseconds per call over `repeats` runs of a calibrated loop,
    less the cost of calling an empty function the same way."""
    return max(_raw_time(fn, target_s, repeats) - _harness_us(), 0.001)


_HARNESS: list[float] = []


def _harness_us() -> float:
    if not _HARNESS:
        _HARNESS.append(_raw_time(lambda: None, 0.2, 7))
    return _HARNESS[0]


def _raw_time(fn: Callable[[], object], target_s: float, repeats: int) -> float:
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= target_s / repeats or number >= 1 << 22:
            break
        number *= 4
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def row(
    kernel: str,
    case: str,
    impl: str,
    us: float,
    *,
    delay: float | None = None,
    quality: float | None = None,
    per: str = "frame",
) -> Row:
    return {
        "kernel": kernel,
        "case": case,
        "impl": impl,
        "us_per_frame_median": round(us, 3),
        "x_realtime": round(FRAME_US / us, 1) if per == "frame" else None,
        "added_delay_ms": None if delay is None else round(delay, 3),
        "quality_db": None if quality is None or not np.isfinite(quality) else round(quality, 1),
    }


def speechlike(rate: int, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """Band-limited noise at a speech level (about -20 dBFS)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(rate * seconds))
    x = np.convolve(x, np.ones(4) / 4, mode="same")
    return (x * 3000).astype(np.int16)


# -- G.711 -------------------------------------------------------------------
def bench_g711(timer: Timer) -> list[Row]:
    rows = []
    pcm = speechlike(8000)[:160]
    for law in g711.LAWS:
        payload = g711.encoder(law).encode(pcm)
        enc_ref, dec_ref = _g711_ref.G711Encoder(law, 160), _g711_ref.G711Decoder(law, 160)
        enc, dec = g711.encoder(law), g711.decoder(law)
        lib_enc = peers.ulaw_encode if law == "ulaw" else peers.alaw_encode
        lib_dec = peers.ulaw_decode if law == "ulaw" else peers.alaw_decode
        for impl, e, d in (
            ("mediaserver", lambda: enc.encode(pcm), lambda: dec.decode(payload)),
            ("mediaserver-python", lambda: enc_ref.encode(pcm), lambda: dec_ref.decode(payload)),
            ("audioop", lambda: lib_enc(pcm), lambda: lib_dec(payload)),
        ):
            rows.append(row("g711", f"{law}-encode-160", impl, timer(e)))
            rows.append(row("g711", f"{law}-decode-160", impl, timer(d)))
    return rows


# -- resampling --------------------------------------------------------------
def stream_in_frames(make: peers.Chunk, x: np.ndarray, frame: int) -> np.ndarray:
    out = [
        np.asarray(make(x[i : i + frame])).reshape(-1) for i in range(0, x.size - frame + 1, frame)
    ]
    return np.concatenate(out) if out else np.zeros(0)


def as_dtype(x_float: np.ndarray, dtype: type) -> np.ndarray:
    if dtype is np.int16:
        return np.clip(np.rint(x_float * 32768.0), -32768, 32767).astype(np.int16)
    return x_float.astype(np.float32)


def to_float(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return y.astype(np.float64) / 32768.0 if y.dtype == np.int16 else y.astype(np.float64)


def measured_delay_ms(peer: peers.ResamplerPeer, in_rate: int, out_rate: int) -> float:
    """How far the streamed output runs behind its input, in ms.

    Two parts: audio a library holds back (input fed so far minus output
    produced so far, median over frames), plus the lag of the output signal
    behind the ideal resampled one (cross-correlation).
    """
    from scipy.signal import correlate, resample_poly

    x = speechlike(in_rate, 0.5, seed=4).astype(np.float64) / 32768.0
    frame = in_rate // 50
    chunk = peer.make(in_rate, out_rate)
    pieces, held = [], []
    fed = produced = 0
    for i in range(0, x.size - frame + 1, frame):
        out = np.asarray(chunk(as_dtype(x[i : i + frame], peer.dtype))).reshape(-1)
        pieces.append(out)
        fed, produced = fed + frame, produced + out.size
        held.append(fed / in_rate - produced / out_rate)
    got = to_float(np.concatenate(pieces))
    up, down = resample.ratio(in_rate, out_rate)
    ideal = resample_poly(x, up, down, window=("kaiser", 12.0))
    n = min(ideal.size, got.size)
    corr = correlate(got[:n], ideal[:n], mode="full", method="fft")
    i = int(np.argmax(corr))
    lag = float(i - (n - 1))
    if 0 < i < corr.size - 1:  # a parabola through the peak: a fraction of a sample
        a, b, c = corr[i - 1], corr[i], corr[i + 1]
        lag += 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) else 0.0
    return 1000.0 * (lag / out_rate + statistics.median(held[5:]))


def bench_resample(timer: Timer, pairs: list[tuple[int, int]]) -> list[Row]:
    rows = []
    for in_rate, out_rate in pairs:
        frame = in_rate // 50
        for peer in peers.RESAMPLERS:
            x = as_dtype(speechlike(in_rate).astype(np.float64) / 32768.0, peer.dtype)
            chunk = peer.make(in_rate, out_rate)
            frames = [x[i : i + frame] for i in range(0, x.size - frame + 1, frame)]
            it = iter(range(1 << 62))
            us = timer(lambda: chunk(frames[next(it) % len(frames)]))

            def one_shot(tone: np.ndarray, peer: peers.ResamplerPeer = peer) -> np.ndarray:
                made = peer.make(in_rate, out_rate)
                return to_float(
                    stream_in_frames(made, as_dtype(tone.astype(np.float64), peer.dtype), frame)
                )

            quality = rejection_db(one_shot, in_rate, out_rate)
            delay = measured_delay_ms(peer, in_rate, out_rate)
            rows.append(
                row(
                    "resample",
                    f"{in_rate}->{out_rate}",
                    peer.impl,
                    us,
                    delay=delay,
                    quality=quality,
                )
            )
    return rows


# -- jitter buffer -----------------------------------------------------------
def bench_jitter(timer: Timer) -> list[Row]:
    """Per packet: one put and one pop, in batches of prebuilt packets."""
    from aiortc.jitterbuffer import JitterBuffer as AiortcJitterBuffer
    from aiortc.rtp import RtpPacket

    batch = 1024
    payload = bytes(160)
    args = [(i, i * 160, payload, i * 0.02, 1) for i in range(batch)]
    rows = []
    for impl, make in (
        ("mediaserver", lambda: jitter.jitter_buffer(8000)),
        ("mediaserver-python", lambda: _jitter_ref.JitterBuffer(8000, 160, 2, 15, 50)),
    ):

        def run_batch(make: Callable[[], Any] = make) -> None:
            jb = make()
            put, pop = jb.put, jb.pop
            for a in args:
                put(*a)
                pop()

        us = timer(run_batch) / batch
        rows.append(row("jitter", "put+pop per packet", impl, us, per="packet"))

    packets = []
    for i in range(batch):
        p = RtpPacket(payload_type=0, sequence_number=i, timestamp=i * 160, payload=payload)
        p._data = payload  # type: ignore[attr-defined]  # set by aiortc's receiver
        packets.append(p)

    def aiortc_batch() -> None:
        add = AiortcJitterBuffer(capacity=16, prefetch=4).add
        for p in packets:
            add(p)

    us = timer(aiortc_batch) / batch
    rows.append(row("jitter", "put+pop per packet", "aiortc-jitterbuffer", us, per="packet"))
    return rows


# -- playout buffer ----------------------------------------------------------
def bench_playout(timer: Timer) -> list[Row]:
    burst = speechlike(16000, 2.0)
    rows = []
    for impl, buf in (
        ("mediaserver", playout.playout_buffer(16000)),
        ("mediaserver-python", _playout_ref.PlayoutBuffer(16000 * 60, 320)),
    ):

        def tick(buf: Any = buf) -> None:
            if buf.buffered < 320:
                buf.write(burst, 1)
            buf.read()

        rows.append(row("playout", "read per 20 ms (2 s bursts in)", impl, timer(tick)))
    return rows


# -- VAD ---------------------------------------------------------------------
def bench_vad(timer: Timer) -> list[Row]:
    import webrtcvad

    from mediaserver.config import VadConfig
    from mediaserver.frames import AudioFrame
    from mediaserver.media.vad import VoiceActivity
    from native import _energy_ref, energy

    rows = []
    for rate in (8000, 16000):
        pcm = speechlike(rate)[: rate // 50]
        frame = AudioFrame(pcm.copy(), rate, 0)
        vad = VoiceActivity(VadConfig(), rate)
        raw = webrtcvad.Vad(2)
        data = pcm.tobytes()
        case = f"{rate} Hz frame"
        rows.append(row("vad", case, "mediaserver", timer(lambda: vad.process(frame))))
        rows.append(row("vad", case, "webrtcvad", timer(lambda: raw.is_speech(data, rate))))
        rows.append(row("energy", case, "mediaserver", timer(lambda: energy.level_db(pcm))))
        rows.append(
            row(
                "energy",
                case,
                "mediaserver-python",
                timer(lambda: _energy_ref.level_db(pcm)),
            )
        )
    return rows


# -- the per-call media path ---------------------------------------------------
def bench_pipeline(timer: Timer) -> list[Row]:
    """One 20 ms tick of a G.711 call: in = jitter + decode + 8k->16k + VAD,
    out = 16k->8k + encode. Our kernels, and the same path built from peers."""
    import soxr
    import webrtcvad
    from aiortc.jitterbuffer import JitterBuffer as AiortcJitterBuffer
    from aiortc.rtp import RtpPacket

    from mediaserver.config import VadConfig
    from mediaserver.frames import AudioFrame
    from mediaserver.media.vad import VoiceActivity

    caller = speechlike(8000, 2.0)
    payloads = [
        g711.encoder("ulaw").encode(caller[i : i + 160]) for i in range(0, caller.size, 160)
    ]
    agent = speechlike(16000, 2.0)
    agent_frames = [agent[i : i + 320] for i in range(0, agent.size, 320)]
    rows = []

    jb, dec, enc = jitter.jitter_buffer(8000), g711.decoder("ulaw"), g711.encoder("ulaw")
    up, down = resample.resampler(8000, 16000), resample.resampler(16000, 8000)
    vad = VoiceActivity(VadConfig(), 16000)
    state = {"i": 0}

    def ours() -> None:
        i = state["i"]
        state["i"] = i + 1
        k = i % len(payloads)
        jb.put(i & 0xFFFF, (i * 160) & 0xFFFFFFFF, payloads[k], i * 0.02, 1)
        payload, _ = jb.pop()
        wide = up.process(dec.decode(payload if payload is not None else payloads[0]))
        vad.process(AudioFrame.copy_of(wide, 16000, i * 320))
        enc.encode(down.process(agent_frames[k]))

    rows.append(row("pipeline", "g711 call tick (in+out)", "mediaserver", timer(ours)))

    ajb = AiortcJitterBuffer(capacity=16, prefetch=4)
    s_up = soxr.ResampleStream(8000, 16000, 1, dtype="int16", quality="HQ")
    s_down = soxr.ResampleStream(16000, 8000, 1, dtype="int16", quality="HQ")
    raw_vad = webrtcvad.Vad(2)
    pstate = {"i": 0}

    def peers_path() -> None:
        i = pstate["i"]
        pstate["i"] = i + 1
        k = i % len(payloads)
        packet = RtpPacket(
            payload_type=0,
            sequence_number=i & 0xFFFF,
            timestamp=(i * 160) & 0xFFFFFFFF,
            payload=payloads[k],
        )
        packet._data = payloads[k]  # type: ignore[attr-defined]
        _, frame = ajb.add(packet)
        data = frame.data if frame is not None else payloads[0]
        pcm = np.frombuffer(peers.ulaw_decode(data[:160]), dtype=np.int16)
        wide = s_up.resample_chunk(pcm)
        if wide.size >= 320:
            raw_vad.is_speech(wide[:320].tobytes(), 16000)
        peers.ulaw_encode(s_down.resample_chunk(agent_frames[k]))

    rows.append(
        row(
            "pipeline",
            "g711 call tick (in+out)",
            "aiortc+audioop+soxr-hq+webrtcvad",
            timer(peers_path),
        )
    )
    return rows


def run(quick: bool = False, smoke: bool = False) -> list[Row]:
    """All rows. quick: five resampler pairs; smoke: one, timed briefly (for tests)."""
    pairs = [(a, b) for a in resample.RATES for b in resample.RATES if a != b]
    if quick:
        pairs = [(8000, 16000), (16000, 8000), (22050, 16000), (48000, 16000), (16000, 48000)]
    if smoke:
        pairs = [(22050, 8000)]

    def timer(fn: Callable[[], object]) -> float:
        return time_per_call(fn, target_s=0.002, repeats=3) if smoke else time_per_call(fn)

    return (
        bench_g711(timer)
        + bench_resample(timer, pairs)
        + bench_jitter(timer)
        + bench_playout(timer)
        + bench_vad(timer)
        + bench_pipeline(timer)
    )


def table(rows: list[Row]) -> str:
    cols = [
        "kernel",
        "case",
        "impl",
        "us_per_frame_median",
        "x_realtime",
        "added_delay_ms",
        "quality_db",
    ]
    heads = ["kernel", "case", "impl", "us/frame", "x realtime", "delay ms", "quality dB"]
    cells = [["-" if r[c] is None else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for c, r in zip(cells, rows, strict=True):
        line = "  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True))
        lines.append(line + ("   <- ours" if r["impl"] == "mediaserver" else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.kernels", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of rows")
    parser.add_argument(
        "--quick", action="store_true", help="five resampler pairs instead of twenty"
    )
    parser.add_argument("--smoke", action="store_true", help="one pair, brief timings (a check)")
    args = parser.parse_args(argv)
    rows = run(quick=args.quick, smoke=args.smoke)
    print(json.dumps(rows, indent=1) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
