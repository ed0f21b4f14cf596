"""The agent's audio for a peer that plays it from a buffer of its own and
says how far it got by echoing marks (Twilio Media Streams).

A native playout buffer holds what is not sent yet; this keeps, for each
stretch of a clause that was sent, where it lies in the stream sent. After
the frame that ends a clause goes out, a mark naming that stream position
follows it; the peer echoes the mark once it has played up to there.

What the turn engine asks, `played(utterance)`, is then what the caller
heard: audio sent counts as heard as it goes out (as for SIP and WebRTC),
except that a clause counts as finished only once its mark is echoed, and a
`clear` (barge-in) drops what the peer had not played: marks still pending
then come back at once, and are ignored.

    playout = MarkedPlayout(on_clear=send_clear)
    frame, marks = playout.read(), playout.take_marks()   # each 20 ms tick
    playout.confirm(name)                                 # a mark came back
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from native import playout as native_playout

SEGMENTS = 64  # stretches of clauses remembered (the engine asks about the last few)


class MarkedPlayout:
    """A PlayoutBuffer (native/playout.py) whose played() counts what the peer confirmed."""

    def __init__(
        self, rate: int = 16000, seconds: float = 120.0, on_clear: Callable[[], None] | None = None
    ) -> None:
        self.buffer = native_playout.playout_buffer(rate, seconds=seconds)
        self.capacity = self.buffer.capacity
        self.frame_samples = self.buffer.frame_samples
        self.on_clear = on_clear or (lambda: None)
        # [utterance, offset in the clause, stream start, stream end], in stream order
        self._segments: deque[list[int]] = deque(maxlen=SEGMENTS)
        self._next_offset: dict[int, int] = {}  # utterance -> offset of its next sample written
        self._written = 0  # stream position after the last sample queued
        self._sent = 0  # after the last sample handed out
        self._heard = 0  # confirmed by an echoed mark (or where a clear cut it)
        self._pending: deque[int] = deque()  # mark positions sent, not echoed yet
        self._due: list[int] = []  # mark positions to send after the frame just read
        self.marks_sent = 0
        self.marks_confirmed = 0

    # -- the engine's side (PlayoutBuffer) ---------------------------------------
    @property
    def buffered(self) -> int:
        return self.buffer.buffered

    @property
    def free(self) -> int:
        return self.buffer.free

    def write(self, pcm: np.ndarray, utterance: int = 0) -> int:
        n = self.buffer.write(pcm, utterance)
        if n:
            offset = self._next_offset.get(utterance, 0)
            last = self._segments[-1] if self._segments else None
            if (
                last is not None
                and last[0] == utterance
                and last[3] == self._written
                and last[1] + last[3] - last[2] == offset
            ):
                last[3] += n
            else:
                self._segments.append([utterance, offset, self._written, self._written + n])
            self._next_offset[utterance] = offset + n
            self._written += n
        return n

    def clear(self) -> int:
        """Barge-in: drop what is queued here and, through on_clear, at the peer."""
        dropped = self.buffer.clear()
        self._written = self._sent
        heard = self._heard_position()
        in_flight = self._sent > heard
        for segment in self._segments:
            segment[3] = min(segment[3], heard)
            segment[2] = min(segment[2], segment[3])
        self._heard = heard
        self._pending.clear()  # their echoes, coming back because of the clear, mean nothing
        self._due.clear()
        for utterance in self._next_offset:
            self._next_offset[utterance] = self.played(utterance)  # the engine resumes there
        if dropped or in_flight:
            self.on_clear()
        return dropped

    def played(self, utterance: int) -> int:
        """How far into `utterance` the caller has heard, in samples."""
        heard = self._heard_position()
        reached = 0
        for u, offset, start, end in self._segments:
            if u == utterance and heard > start:
                reached = max(reached, offset + min(end, heard) - start)
        return reached

    # -- the transport's side ---------------------------------------------------------
    def read(self) -> np.ndarray:
        """The next frame to send (reused); marks due after it: take_marks()."""
        before = self._sent
        self._sent += min(self.frame_samples, self.buffer.buffered)
        frame = self.buffer.read()
        if self._sent > before:
            for _, _, start, end in self._segments:
                if before < end <= self._sent and end > start:
                    self._due.append(end)
        return frame

    def take_marks(self) -> list[str]:
        """Names of the marks to send now, after the frame just read."""
        if not self._due:
            return []
        names = [f"{position}" for position in self._due]
        self._pending.extend(self._due)
        self.marks_sent += len(self._due)
        self._due.clear()
        return names

    def confirm(self, name: str) -> bool:
        """The peer echoed mark `name`: it has played up to there. False: not ours
        (or cleared)."""
        try:
            position = int(name)
        except ValueError:
            return False
        if position not in self._pending:
            return False
        while self._pending and self._pending[0] <= position:
            self._pending.popleft()
        self._heard = max(self._heard, position)
        self.marks_confirmed += 1
        return True

    def _heard_position(self) -> int:
        """Sent counts as heard, but never past a clause end the peer has not confirmed."""
        cap = self._pending[0] - 1 if self._pending else self._sent
        due = self._due[0] - 1 if self._due else self._sent
        return max(self._heard, min(self._sent, cap, due))
