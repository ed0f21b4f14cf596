"""Pure-Python reference for the adaptive RTP jitter buffer (_jitter.pyx)."""

from __future__ import annotations

import math

PACKET, CONCEALED, SILENT = 0, 1, 2
_EMPTY, _FILLED, _PLAYED = 0, 1, 2
_IDLE_AFTER = 5  # consecutive underruns before the stream counts as paused
_SHRINK_EVERY = 5  # at most one frame dropped per this many ticks to cut delay


def _signed(delta: int, bits: int) -> int:
    half = 1 << (bits - 1)
    return ((delta + half) & ((1 << bits) - 1)) - half


def check_packet(seq: object, timestamp: object, arrival: object, ssrc: object) -> None:
    if type(seq) is not int or not 0 <= seq <= 0xFFFF:
        raise ValueError(f"seq: expected an int in 0..65535, got {seq!r}")
    if type(timestamp) is not int or not 0 <= timestamp <= 0xFFFFFFFF:
        raise ValueError(f"timestamp: expected an int in 0..2**32-1, got {timestamp!r}")
    if type(arrival) not in (int, float) or not math.isfinite(arrival):  # type: ignore[arg-type]
        raise ValueError(f"arrival: expected a finite number of seconds, got {arrival!r}")
    if type(ssrc) is not int or not 0 <= ssrc <= 0xFFFFFFFF:
        raise ValueError(f"ssrc: expected an int in 0..2**32-1, got {ssrc!r}")


class JitterBuffer:
    def __init__(
        self, clock_rate: int, frame_samples: int, min_frames: int, max_frames: int, capacity: int
    ) -> None:
        self.clock_rate = clock_rate
        self.frame_samples = frame_samples
        self.min_frames = min_frames
        self.max_frames = max_frames
        self.capacity = capacity
        self._seq = [0] * capacity
        self._state = [_EMPTY] * capacity
        self._payload: list[object] = [None] * capacity
        self.received = self.lost = self.late = self.duplicate = 0
        self.concealed = self.dropped = self.resets = 0
        self._ssrc = -1
        self._restart()

    def _restart(self) -> None:
        for i in range(self.capacity):
            self._state[i] = _EMPTY
            self._payload[i] = None
        self._has_stream = False
        self._started = False
        self._played_any = False
        self._next = 0
        self._highest = 0
        self._ext_ts = 0
        self._last_ts = 0
        self._transit = 0.0
        self._jitter = 0.0
        self._underruns = 0
        self._since_shrink = 0

    # -- input -----------------------------------------------------------
    def put(self, seq: int, timestamp: int, payload: object, arrival: float, ssrc: int = 0) -> None:
        check_packet(seq, timestamp, arrival, ssrc)
        self.received += 1
        if ssrc != self._ssrc:
            if self._ssrc != -1:
                self.resets += 1
            self._ssrc = ssrc
            self._begin(seq, timestamp, payload, arrival)
            return
        ext = self._highest + _signed(seq - self._highest, 16)
        if ext < self._next - self.capacity or ext > self._highest + self.capacity:
            self.resets += 1  # the sender renumbered or jumped: a new stream
            self._begin(seq, timestamp, payload, arrival)
            return
        self._ext_ts += _signed(timestamp - self._last_ts, 32)
        self._last_ts = timestamp
        transit = arrival * self.clock_rate - self._ext_ts
        self._jitter += (abs(transit - self._transit) - self._jitter) / 16.0
        self._transit = transit
        slot = ext % self.capacity
        if self._state[slot] != _EMPTY and self._seq[slot] == ext:
            self.duplicate += 1
        elif ext < self._next:
            if self._played_any:
                self.late += 1
            else:
                self._next = ext  # still buffering: an earlier packet extends the start
                self._store(ext, payload)
        else:
            if ext >= self._next + self.capacity:
                self._skip_to(ext - self.capacity + 1)
            self._store(ext, payload)
            self._highest = max(self._highest, ext)

    def _begin(self, seq: int, timestamp: int, payload: object, arrival: float) -> None:
        self._restart()
        self._has_stream = True
        self._highest = self._next = seq
        self._ext_ts = self._last_ts = timestamp
        self._transit = arrival * self.clock_rate - timestamp
        self._store(seq, payload)

    def _store(self, ext: int, payload: object) -> None:
        slot = ext % self.capacity
        self._seq[slot] = ext
        self._state[slot] = _FILLED
        self._payload[slot] = payload

    def _skip_to(self, ext: int) -> None:
        """Give up the frames before ext: the buffer is full."""
        while self._next < ext:
            slot = self._next % self.capacity
            if self._state[slot] == _FILLED and self._seq[slot] == self._next:
                self.dropped += 1
            else:
                self.lost += 1
            self._state[slot] = _EMPTY
            self._payload[slot] = None
            self._next += 1

    # -- output ----------------------------------------------------------
    def target_frames(self) -> int:
        frames = math.ceil(4.0 * self._jitter / self.frame_samples) + 1
        return min(max(frames, self.min_frames), self.max_frames)

    def depth(self) -> int:
        """Frames from the playout point to the newest packet, gaps included."""
        return self._highest - self._next + 1 if self._has_stream else 0

    def pop(self) -> tuple[object, int]:
        """One tick: (payload, PACKET), (None, CONCEALED) or (None, SILENT)."""
        if not self._started:
            if self.depth() <= 0 or self.depth() < self.target_frames():
                return None, SILENT
            self._started = True
            self._underruns = 0
        slot = self._next % self.capacity
        self._since_shrink += 1
        if self._state[slot] == _FILLED and self._seq[slot] == self._next:
            self._underruns = 0
            if self.depth() > self.target_frames() + 2 and self._since_shrink >= _SHRINK_EVERY:
                self._since_shrink = 0
                self.dropped += 1
                self._consume(slot)
                slot = self._next % self.capacity
                if not (self._state[slot] == _FILLED and self._seq[slot] == self._next):
                    return self._conceal_missing(slot)
            return self._consume(slot), PACKET
        if self._highest >= self._next:
            return self._conceal_missing(slot)
        self._underruns += 1
        if self._underruns >= _IDLE_AFTER:
            self._started = False  # paused: rebuffer to the target when it resumes
            return None, SILENT
        self.concealed += 1
        return None, CONCEALED

    def _conceal_missing(self, slot: int) -> tuple[object, int]:
        self._state[slot] = _EMPTY
        self._next += 1
        self.lost += 1
        self.concealed += 1
        return None, CONCEALED

    def _consume(self, slot: int) -> object:
        payload = self._payload[slot]
        self._payload[slot] = None
        self._state[slot] = _PLAYED
        self._next += 1
        self._played_any = True
        return payload

    def delay_frames(self) -> int:
        return self.depth() if self._started else 0

    def jitter_samples(self) -> float:
        return self._jitter
