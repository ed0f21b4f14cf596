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

QUEUE_FRAMES = 500  # 10 s of audio waiting for the disk


class Recorder:
    def __init__(self, path: Path, rate: int = 16000) -> None:
        self.path = path
        self.rate = rate
        self.dropped = 0
        self._stereo = np.empty(2 * rate // 50, dtype="<i2")  # one interleaved 20 ms frame
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._write, name=f"rec-{path.stem}", daemon=True)
        self._thread.start()

    def add(self, caller: np.ndarray, agent: np.ndarray) -> None:
        """One frame of each side (int16, equal lengths)."""
        if self._stereo.size != caller.size * 2:
            self._stereo = np.empty(caller.size * 2, dtype="<i2")
        self._stereo[0::2] = caller
        self._stereo[1::2] = agent
        try:
            self._queue.put_nowait(self._stereo.tobytes())  # the one copy the queue needs
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
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
