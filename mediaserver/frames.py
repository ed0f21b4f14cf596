"""The one audio type of the server (a frame of mono int16 PCM), and a ring of recent frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_MS = 20  # the unit of work everywhere


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """Mono int16 samples at `rate`, starting `position` samples into its stream.

    The samples are owned by the frame (read-only): kernels that reuse their
    output buffers hand out views, so take a copy when building a frame from one.
    """

    samples: np.ndarray
    rate: int
    position: int = 0

    def __post_init__(self) -> None:
        s = self.samples
        if not isinstance(s, np.ndarray) or s.dtype != np.int16 or s.ndim != 1:
            raise TypeError("samples: expected a 1-D numpy int16 array")
        if not isinstance(self.rate, int) or self.rate <= 0:
            raise ValueError(f"rate: expected a positive int, got {self.rate!r}")
        if not isinstance(self.position, int) or self.position < 0:
            raise ValueError(f"position: expected a non-negative int, got {self.position!r}")
        s.flags.writeable = False

    @classmethod
    def copy_of(cls, samples: np.ndarray, rate: int, position: int = 0) -> AudioFrame:
        """A frame owning a copy of `samples` (e.g. a kernel's reused buffer)."""
        return cls(np.array(samples, dtype=np.int16, copy=True), rate, position)

    @classmethod
    def from_bytes(cls, data: bytes, rate: int, position: int = 0) -> AudioFrame:
        """A frame from little-endian 16-bit PCM bytes (as transports deliver it)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        if len(data) % 2:
            raise ValueError(f"data: {len(data)} bytes is not a whole number of 16-bit samples")
        return cls(np.frombuffer(bytes(data), dtype="<i2").astype(np.int16), rate, position)

    @classmethod
    def from_float(cls, samples: np.ndarray, rate: int, position: int = 0) -> AudioFrame:
        """A frame from float samples in [-1, 1] (clipped); NaN or inf is an error."""
        x = np.asarray(samples)
        if x.dtype.kind != "f" or x.ndim != 1:
            raise TypeError("samples: expected a 1-D float array")
        if not np.isfinite(x).all():
            raise ValueError("samples: NaN or infinite value")
        pcm = np.rint(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)
        return cls(pcm, rate, position)

    @classmethod
    def silence(cls, rate: int, position: int = 0, ms: int = FRAME_MS) -> AudioFrame:
        return cls(np.zeros(rate * ms // 1000, dtype=np.int16), rate, position)

    @property
    def duration(self) -> float:
        """Seconds of audio in the frame."""
        return int(self.samples.shape[0]) / self.rate

    @property
    def end(self) -> int:
        """Position just after the last sample."""
        return self.position + int(self.samples.shape[0])


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
