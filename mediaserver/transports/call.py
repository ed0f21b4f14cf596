"""What every transport hands the rest of the server: a CallHandle per call
with its CallMedia buffers, and the CallHandler it reports to.

    event loop (Session, engine)  <->  CallMedia buffers  <->  media thread or task
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from native import playout

RATE = 16000  # every call's media, both ways: 16 kHz mono int16
FRAME = 320  # samples in 20 ms


class MediaPacing:
    """Gaps between outbound frame requests and the cost of our callbacks,
    kept for the last minute in arrays allocated once."""

    SLOTS = 3000

    def __init__(self) -> None:
        self.gaps_ns = np.zeros(self.SLOTS, dtype=np.int64)
        self.callback_ns = np.zeros(self.SLOTS, dtype=np.int64)
        self.count = 0
        self._last = 0

    def record(self, start_ns: int, end_ns: int) -> None:
        i = self.count % self.SLOTS
        self.gaps_ns[i] = start_ns - self._last if self._last else 0
        self.callback_ns[i] = end_ns - start_ns
        self._last = start_ns
        self.count += 1

    def summary(self) -> dict[str, float]:
        n = min(self.count, self.SLOTS)
        if n < 3:
            return {}
        gaps = self.gaps_ns[:n][self.gaps_ns[:n] > 0] / 1e6
        cost = self.callback_ns[:n] / 1e3
        return {
            "frames": float(self.count),
            "gap_p50_ms": round(float(np.percentile(gaps, 50)), 2),
            "gap_p99_ms": round(float(np.percentile(gaps, 99)), 2),
            "callback_p50_us": round(float(np.percentile(cost, 50)), 1),
            "callback_p99_us": round(float(np.percentile(cost, 99)), 1),
        }


@dataclass
class CallMedia:
    """The two buffers a call's media thread and its session share, and the
    media thread's timings (written there, read after the call)."""

    inbound: playout.PlayoutBuffer = field(
        default_factory=lambda: playout.playout_buffer(RATE, seconds=2)
    )
    outbound: playout.PlayoutBuffer = field(
        default_factory=lambda: playout.playout_buffer(RATE, seconds=120)
    )
    # what the caller was actually played, frame by frame, for the recording
    played: playout.PlayoutBuffer = field(
        default_factory=lambda: playout.playout_buffer(RATE, seconds=2)
    )
    dropped_in: int = 0  # caller frames refused because the session fell behind
    # the jitter buffer's account, where the transport keeps one (WebRTC)
    lost: int = 0
    late: int = 0
    concealed: int = 0
    pacing: MediaPacing = field(default_factory=MediaPacing)


@dataclass(eq=False)  # one handle per call: hashed by identity
class CallHandle:
    """A call as the rest of the server sees it. The pj.Call itself never
    leaves the pjsip thread (a pj.Call outliving libDestroy aborts the process)."""

    call_id: int
    remote_uri: str = ""
    local_uri: str = ""
    source: str = ""  # ip:port the call came from
    transport: str = "sip"  # sip | webrtc | twilio | websocket
    agent: str | None = None  # the agent asked for (None: the default agent)
    external_id: str = ""  # the carrier's id of the call (Twilio's CallSid), recorded
    record_id: str = ""  # its call record's id (GET /calls/{id}), once it has one
    digits: str = ""  # keys pressed before the media came up (Twilio's <Gather>)
    # what the session says, for transports that show it to the caller (the softphone page)
    on_event: Callable[[object], None] | None = None
    outbound: bool = False
    started: bool = False  # media up: a session may run
    ended: bool = False
    end_reason: str = ""  # why, when the transport knows (e.g. media_timeout)
    transferred: bool = False  # a REFER of ours succeeded
    media: CallMedia = field(default_factory=CallMedia)


class CallHandler:
    """What the SIP server tells the rest of the server about one call (on the loop)."""

    def started(self, call: CallHandle) -> None: ...

    def dtmf(self, call: CallHandle, digit: str) -> None: ...

    def ended(self, call: CallHandle, code: int, reason: str) -> None: ...

    def transfer_failed(self, call: CallHandle, code: int) -> None: ...

    def refusal(self) -> str | None:
        """Why a new call must be refused (SIP 503, WebRTC 503), or None.
        Asked from the transport's thread: must not block."""
        return None


class Transport(Protocol):
    """What the server asks of a transport about one of its calls (from the loop)."""

    def hangup(self, call: CallHandle, code: int = 200) -> None: ...

    def transfer(self, call: CallHandle, target: str) -> None: ...
