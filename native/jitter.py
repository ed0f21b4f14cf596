"""Adaptive RTP jitter buffer: one frame out per 20 ms tick.

    jb = jitter.jitter_buffer(clock_rate=8000)
    jb.put(seq, timestamp, payload, arrival_seconds, ssrc)   # on each packet
    payload, status = jb.pop()                                # on each tick
    # status: Playout.PACKET, Playout.CONCEALED (missing: conceal it) or
    # Playout.SILENT (nothing to play yet, or the sender paused)

Handles 16-bit sequence and 32-bit timestamp wrap, duplicates, reordering,
late packets (counted, dropped), SSRC change and numbering jumps (reset),
and a full buffer (oldest frames given up). The target delay follows the
RFC 3550 inter-arrival jitter (about 4 x J + one frame) between bounds;
when the queue runs over target + 2 frames, one frame in five ticks is
dropped until it is back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from native import load_kernel

_kernel = load_kernel("native._jitter", "native._jitter_ref")


class Playout(IntEnum):
    PACKET = 0
    CONCEALED = 1
    SILENT = 2


@dataclass(frozen=True, slots=True)
class JitterStats:
    received: int
    lost: int
    late: int
    duplicate: int
    concealed: int
    dropped: int
    resets: int
    delay_ms: float
    target_ms: float
    jitter_ms: float


class JitterBuffer(Protocol):
    clock_rate: int
    frame_samples: int
    capacity: int
    received: int
    lost: int
    late: int
    duplicate: int
    concealed: int
    dropped: int
    resets: int

    def put(
        self, seq: int, timestamp: int, payload: bytes, arrival: float, ssrc: int = 0
    ) -> None: ...

    def pop(self) -> tuple[bytes | None, int]: ...

    def target_frames(self) -> int: ...

    def delay_frames(self) -> int: ...

    def jitter_samples(self) -> float: ...


def jitter_buffer(
    clock_rate: int = 8000,
    frame_ms: int = 20,
    min_delay_ms: int = 40,
    max_delay_ms: int = 300,
    capacity_ms: int = 1000,
) -> JitterBuffer:
    """A jitter buffer for one RTP stream of frame_ms packets."""
    for name, value in (("clock_rate", clock_rate), ("frame_ms", frame_ms)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    if clock_rate * frame_ms % 1000:
        raise ValueError(
            f"frame_ms: {frame_ms} ms is not a whole number of samples at {clock_rate} Hz"
        )
    if not 0 < min_delay_ms <= max_delay_ms <= capacity_ms:
        raise ValueError(
            "min_delay_ms, max_delay_ms, capacity_ms: expected 0 < min <= max <= capacity, got "
            f"{min_delay_ms}, {max_delay_ms}, {capacity_ms}"
        )
    frames = [-(-ms // frame_ms) for ms in (min_delay_ms, max_delay_ms, capacity_ms)]
    jb: JitterBuffer = _kernel.JitterBuffer(clock_rate, clock_rate * frame_ms // 1000, *frames)
    return jb


def stats(jb: JitterBuffer) -> JitterStats:
    """A snapshot of the counters, with delays in milliseconds."""
    frame_ms = 1000.0 * jb.frame_samples / jb.clock_rate
    return JitterStats(
        received=jb.received,
        lost=jb.lost,
        late=jb.late,
        duplicate=jb.duplicate,
        concealed=jb.concealed,
        dropped=jb.dropped,
        resets=jb.resets,
        delay_ms=jb.delay_frames() * frame_ms,
        target_ms=jb.target_frames() * frame_ms,
        jitter_ms=1000.0 * jb.jitter_samples() / jb.clock_rate,
    )
