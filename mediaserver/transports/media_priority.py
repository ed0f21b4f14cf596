"""PJSIP's media threads run ahead of the rest of the process.

PJSIP's media clock asks for the highest priority of its scheduling policy,
which under Linux's default policy is no priority at all: a clock tick that
wakes while the event loop, the SIP thread and other processes' calls hold
the cores waits its turn, and the call hears the gap. A lower nice value for
the threads that carry frames ("clock": the conference bridge's tick and our
frame callbacks; "media": RTP in and out) lets them go first. Lowering a
nice value needs CAP_SYS_NICE (root, or `cap_add: [SYS_NICE]` in a
container); without it the threads keep their priority and this says so once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

MEDIA_THREADS = frozenset({"clock", "media"})  # the names pjlib gives them


class MediaPriority:
    def __init__(self, nice: int, tasks: Path = Path("/proc/self/task")) -> None:
        self.nice = nice  # 0: leave them as they are
        self._tasks = tasks
        self._done: set[int] = set()
        self._refused = False

    def apply(self) -> int:
        """Give media threads not seen before the nice value; the number changed.
        (PJSIP starts its clock with the first call; the SIP server keeps it
        running from then on, so later calls find nothing new.)"""
        if self.nice == 0 or self._refused:
            return 0
        changed = 0
        for tid in self._media_threads():
            if tid in self._done:
                continue
            try:
                os.setpriority(os.PRIO_PROCESS, tid, self.nice)
            except PermissionError:
                self._refused = True
                log.warning(
                    "media threads keep their priority: nice %d needs CAP_SYS_NICE", self.nice
                )
                return changed
            except ProcessLookupError:
                continue  # ended meanwhile
            self._done.add(tid)
            changed += 1
        return changed

    def _media_threads(self) -> list[int]:
        found = []
        for task in self._tasks.iterdir():
            try:
                if (task / "comm").read_text().strip() in MEDIA_THREADS:
                    found.append(int(task.name))
            except (OSError, ValueError):
                continue  # a thread that ended while we looked
        return found
