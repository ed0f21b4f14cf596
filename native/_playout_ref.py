"""Pure-Python reference for the outbound playout buffer (_playout.pyx)."""

from __future__ import annotations

import threading

import numpy as np

from native._checks import as_pcm

MARKS = 32  # utterances remembered for played()


class PlayoutBuffer:
    def __init__(self, capacity: int, frame_samples: int) -> None:
        self.capacity = capacity
        self.frame_samples = frame_samples
        self._ring = np.zeros(capacity, dtype=np.int16)
        self._frame = np.zeros(frame_samples, dtype=np.int16)
        self._written = 0  # samples ever accepted (positions are in this count)
        self._read = 0  # samples ever handed out
        self._marks: list[list[int]] = []  # [utterance, start, end]
        self._lock = threading.Lock()  # the compiled kernel relies on the GIL instead

    @property
    def buffered(self) -> int:
        return self._written - self._read

    @property
    def free(self) -> int:
        return self.capacity - self.buffered

    def write(self, pcm: object, utterance: int = 0) -> int:
        """Queue samples of `utterance`; returns how many fitted (the rest is refused)."""
        with self._lock:
            x = as_pcm(pcm, "pcm", 1 << 30)
            n = int(min(x.shape[0], self.capacity - (self._written - self._read)))
            start = self._written % self.capacity
            first = min(n, self.capacity - start)
            self._ring[start : start + first] = x[:first]
            self._ring[: n - first] = x[first:n]
            if (
                self._marks
                and self._marks[-1][0] == utterance
                and self._marks[-1][2] == self._written
            ):
                self._marks[-1][2] += n
            elif n:
                self._marks.append([utterance, self._written, self._written + n])
                del self._marks[:-MARKS]
            self._written += n
            return n

    def read(self) -> np.ndarray:
        """One frame: queued audio, padded with silence. Reused by the next call."""
        with self._lock:
            n = min(self.frame_samples, self._written - self._read)
            start = self._read % self.capacity
            first = min(n, self.capacity - start)
            self._frame[:first] = self._ring[start : start + first]
            self._frame[first:n] = self._ring[: n - first]
            self._frame[n:] = 0
            self._read += n
            return self._frame

    def clear(self) -> int:
        """Drop everything queued (barge-in); returns the samples dropped."""
        with self._lock:
            dropped = self._written - self._read
            self._written = self._read
            for mark in self._marks:
                mark[2] = min(mark[2], self._read)
                mark[1] = min(mark[1], mark[2])
            return dropped

    def played(self, utterance: int) -> int:
        """Samples of `utterance` handed out so far."""
        with self._lock:
            return sum(
                int(min(self._read, end) - start)
                for utt, start, end in self._marks
                if utt == utterance and self._read > start
            )
