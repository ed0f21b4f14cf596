"""PJSIP's socket table, kept from running dry.

The registry builds of PJSIP poll every socket of the process (SIP, TCP
connections, each call's RTP and RTCP) through one select() ioqueue of 64
keys, and a closed socket's key is reusable only 500 ms later
(PJ_IOQUEUE_KEY_FREE_DELAY). Registering a socket while every free key is
still cooling trips a pj_assert that aborts the whole process: short calls
at a high rate did (sipp, 200 INVITEs/s, calls of 20 ms). So while keys
cool, the pjsip thread stops polling if those in use, those cooling and what
one round of polling may register could add up to more than the table:
packets wait in the kernel meanwhile (SIP retransmits), nothing is lost.
(A table full of keys in use is safe: PJSIP then refuses the socket.)
"""

from __future__ import annotations

import collections

KEYS = 64  # PJ_IOQUEUE_MAX_HANDLES: PJSIP's ioqueue, shared by SIP and media
FREE_DELAY = 0.6  # seconds a closed socket's key cools (500 ms, with a margin)
FIXED = 2  # the UDP transport and the TCP listener
PER_CALL = 2  # RTP and RTCP
ROUND = 6  # TCP connections one round of polling may accept (PJSIP's backlog of 5, +1)
# calls one round may start per line: a line can end and start again within a
# round when the thread lags behind a flood (seen: 2 a line was not enough)
TURNOVERS = 4


class SocketBudget:
    def __init__(self, max_calls: int) -> None:
        self.max_calls = max_calls
        self._released: collections.deque[tuple[float, int]] = collections.deque()
        self.cooling = 0  # keys released less than FREE_DELAY ago
        self.paused = 0  # rounds of polling held back so far

    def released(self, keys: int, now: float) -> None:
        self._released.append((now + FREE_DELAY, keys))
        self.cooling += keys

    def expire(self, now: float) -> None:
        while self._released and self._released[0][0] <= now:
            self.cooling -= self._released.popleft()[1]

    def may_poll(self, calls: int, connections: int, gated: bool, now: float) -> bool:
        """Whether a round of polling fits: keys in use, cooling, and what
        new calls and connections (none while `gated`) the round may register."""
        self.expire(now)
        if self.cooling <= 0:
            return True
        in_use = FIXED + PER_CALL * calls + connections
        need = PER_CALL * self.max_calls * TURNOVERS + (0 if gated else ROUND)
        fits = in_use + self.cooling + need <= KEYS
        if not fits:
            self.paused += 1
        return fits
