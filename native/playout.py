"""Outbound playout buffer: bursts in, one frame per tick out.

    buf = playout.playout_buffer(rate=16000, seconds=60)
    buf.write(pcm, utterance=7)   # from the event loop; returns samples taken
    frame = buf.read()            # from the media thread; silence when empty
    buf.clear()                   # barge-in: returns samples dropped
    buf.played(7)                 # samples of utterance 7 the caller heard

Safe to fill from one thread and drain from another.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from native import load_kernel

_kernel = load_kernel("native._playout", "native._playout_ref")


class PlayoutBuffer(Protocol):
    capacity: int
    frame_samples: int

    @property
    def buffered(self) -> int: ...

    @property
    def free(self) -> int: ...

    def write(self, pcm: np.ndarray, utterance: int = 0) -> int: ...

    def read(self) -> np.ndarray: ...

    def clear(self) -> int: ...

    def played(self, utterance: int) -> int: ...


def playout_buffer(rate: int = 16000, frame_ms: int = 20, seconds: float = 60.0) -> PlayoutBuffer:
    """A buffer holding up to `seconds` of audio, read in frame_ms frames."""
    if not isinstance(rate, int) or rate <= 0 or rate * frame_ms % 1000:
        raise ValueError(
            f"rate: expected a positive int with whole {frame_ms} ms frames, got {rate!r}"
        )
    if not 0 < seconds <= 600:
        raise ValueError(f"seconds: expected 0 < seconds <= 600, got {seconds!r}")
    frame_samples = rate * frame_ms // 1000
    capacity = max(frame_samples, int(rate * seconds))
    buf: PlayoutBuffer = _kernel.PlayoutBuffer(capacity, frame_samples)
    return buf
