"""The caller's recent audio, kept for transcription by stream position."""

from __future__ import annotations

import numpy as np

from mediaserver.frames import AudioFrame


class InboundAudio:
    """The last few seconds of the caller's audio, by stream position
    (a ring allocated once per call)."""

    def __init__(self, rate: int, seconds: float) -> None:
        self.rate = rate
        self._ring = np.zeros(int(rate * seconds), dtype=np.int16)
        self.end = 0  # stream position after the newest sample

    def append(self, frame: AudioFrame) -> None:
        samples, size = frame.samples, self._ring.size
        start = frame.position % size
        first = min(samples.size, size - start)
        self._ring[start : start + first] = samples[:first]
        self._ring[: samples.size - first] = samples[first:]
        self.end = frame.end

    def slice(self, start: int, end: int) -> np.ndarray:
        """A copy of samples [start, end), clipped to what is still held."""
        size = self._ring.size
        start = max(start, self.end - size, 0)
        end = min(end, self.end)
        if end <= start:
            return np.zeros(0, np.int16)
        a, b = start % size, end % size
        if a < b:
            return self._ring[a:b].copy()
        return np.concatenate([self._ring[a:], self._ring[:b]])
