"""Call recordings: a stereo 16 kHz WAV, caller left, agent right, aligned
frame by frame. Written by a thread of its own so the event loop never
waits on the disk; the queue to it is bounded and drops (and counts) frames
if the disk falls behind."""

from __future__ import annotations

import logging
import queue
import threading
import wave
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BATCH_FRAMES = 25  # frames handed to the disk thread at once: one wake-up per 0.5 s, not per frame
QUEUE_BATCHES = 20  # 10 s of audio waiting for the disk


class Recorder:
    def __init__(self, path: Path, rate: int = 16000) -> None:
        self.path = path
        self.rate = rate
        self.dropped = 0  # frames
        self._batch = np.empty(BATCH_FRAMES * 2 * rate // 50, dtype="<i2")  # interleaved
        self._filled = 0  # samples of _batch written
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_BATCHES)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._write, name=f"rec-{path.stem}", daemon=True)
        self._thread.start()

    def add(self, caller: np.ndarray, agent: np.ndarray) -> None:
        """One frame of each side (int16, equal lengths)."""
        n = caller.size * 2
        if self._filled + n > self._batch.size:
            self._hand_over()
            if n > self._batch.size:
                self._batch = np.empty(n, dtype="<i2")
        frame = self._batch[self._filled : self._filled + n]
        frame[0::2] = caller
        frame[1::2] = agent
        self._filled += n
        if self._filled == self._batch.size:
            self._hand_over()

    def _hand_over(self) -> None:
        if not self._filled:
            return
        try:
            self._queue.put_nowait(self._batch[: self._filled].tobytes())  # the one copy needed
        except queue.Full:
            self.dropped += self._filled // (2 * self.rate // 50)
        self._filled = 0

    def close(self) -> None:
        """Blocking (the disk): what is left, then the file closed."""
        self._hand_over()
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _write(self) -> None:
        with wave.open(str(self.path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(self.rate)
            while (chunk := self._queue.get()) is not None:
                w.writeframes(chunk)
        if self.dropped:
            log.warning("%s: %d frames dropped (disk too slow)", self.path, self.dropped)
