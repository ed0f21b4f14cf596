"""PJSIP's media threads run ahead of the rest of the process.

PJSIP's media clock asks for the highest priority of its scheduling policy,
which under Linux's default policy is no priority at all: a clock tick that
wakes while the event loop, the SIP thread and other processes' calls hold
the cores waits its turn, and the call hears the gap. The threads that carry
frames ("clock": the conference bridge's tick and our frame callbacks;
"media": RTP in and out) are given either a real-time priority (SCHED_RR,
`[sip] media_realtime`: they preempt every ordinary thread on the box, as
Asterisk's and FreeSWITCH's media threads do) or a lower nice value
(`[sip] media_nice`: they win more of the CPU than the others but still
queue behind them). Both need CAP_SYS_NICE (root, or `cap_add: [SYS_NICE]`
in a container); without it the real-time request falls back to the nice
value, and without that too the threads keep their priority. Each fallback
is said once. A tick costs microseconds, so a real-time media thread cannot
starve the box (and the kernel keeps 5 % of every second for the others).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

MEDIA_THREADS = frozenset({"clock", "media"})  # the names pjlib gives them


class MediaPriority:
    def __init__(self, nice: int, realtime: int = 0, tasks: Path = Path("/proc/self/task")) -> None:
        self.nice = nice  # 0: leave it as it is
        self.realtime = realtime  # SCHED_RR priority 1..99; 0: ordinary scheduling
        self._tasks = tasks
        self._done: set[int] = set()

    def apply(self) -> int:
        """Raise media threads not seen before; the number changed.
        (PJSIP starts its clock with the first call; the SIP server keeps it
        running from then on, so later calls find nothing new.)"""
        if self.nice == 0 and self.realtime == 0:
            return 0
        changed = 0
        for tid in self._media_threads():
            if tid in self._done:
                continue
            try:
                if self._raise(tid):
                    changed += 1
            except ProcessLookupError:
                continue  # ended meanwhile
            self._done.add(tid)
        return changed

    def _raise(self, tid: int) -> bool:
        if self.realtime:
            try:
                os.sched_setscheduler(tid, os.SCHED_RR, os.sched_param(self.realtime))
                return True
            except PermissionError:
                log.warning(
                    "media threads get nice %d instead of real-time priority %d: "
                    "SCHED_RR needs CAP_SYS_NICE (and a real-time budget for the cgroup)",
                    self.nice,
                    self.realtime,
                )
                self.realtime = 0
        if self.nice:
            try:
                os.setpriority(os.PRIO_PROCESS, tid, self.nice)
                return True
            except PermissionError:
                log.warning(
                    "media threads keep their priority: nice %d needs CAP_SYS_NICE", self.nice
                )
                self.nice = 0
        return False

    def _media_threads(self) -> list[int]:
        found = []
        for task in self._tasks.iterdir():
            try:
                if (task / "comm").read_text().strip() in MEDIA_THREADS:
                    found.append(int(task.name))
            except (OSError, ValueError):
                continue  # a thread that ended while we looked
        return found
