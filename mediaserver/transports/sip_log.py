"""PJSIP's own log, through the server's log: masked like every other line,
one entry per line with its control characters escaped (a forged log line in
a packet stays text inside one entry), and no packet dumps or message bodies
below level 5.

PJSIP calls `write` on any of its threads (the media thread included): it only
appends to a bounded deque, counting what it drops; a thread of its own turns
the entries into log records.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pjsua2 as pj

log = logging.getLogger("pjsip")

PENDING = 2000  # entries waiting for the writer thread; more are dropped and counted
VERBOSE_LEVEL = 5  # from this PJSIP level on, whole SIP messages are logged too
# PJSIP's level is the filter (sip.log_level): what it passes is at least INFO
_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean(text: str, verbose: bool) -> str:
    """One line of printable text: the first line only unless `verbose` (PJSIP
    puts packets and message bodies after it), control characters escaped."""
    text = text.rstrip("\r\n")
    if not verbose and ("\n" in text or "\r" in text):
        text = re.split(r"[\r\n]", text, maxsplit=1)[0] + " [rest omitted]"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class PjsipLog(pj.LogWriter):  # type: ignore[misc]
    """Give it to EpConfig.logConfig.writer; the endpoint deletes it at libDestroy."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.verbose = level >= VERBOSE_LEVEL
        self.entries: collections.deque[tuple[int, str]] = collections.deque(maxlen=PENDING)
        self.dropped = 0
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="pjsip-log", daemon=True)
        self._thread.start()

    def write(self, entry: Any) -> None:
        """On a PJSIP thread: nothing here may block."""
        try:
            if len(self.entries) == PENDING:
                self.dropped += 1
            self.entries.append((int(entry.level), str(entry.msg)))
            self._wake.set()
        except Exception:  # an exception escaping into PJSIP aborts the process
            self.dropped += 1

    def close(self) -> None:
        """After libDestroy: write what is left and stop the thread."""
        self._stopped = True
        self._wake.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        while True:
            self._wake.wait(1.0)
            self._wake.clear()
            self.flush()
            if self._stopped:
                self.flush()
                return

    def flush(self) -> None:
        while self.entries:
            level, text = self.entries.popleft()
            log.log(_LEVELS.get(level, logging.INFO), "%s", clean(text, self.verbose))
        if dropped := self.dropped:
            self.dropped -= dropped
            log.warning("%d PJSIP log entries dropped (the log fell behind)", dropped)


def configure(cfg: Any, level: int) -> PjsipLog:
    """Point an EpConfig's log at the server's log; returns the writer (keep it)."""
    writer = PjsipLog(level)
    cfg.logConfig.level = level
    cfg.logConfig.consoleLevel = level
    cfg.logConfig.msgLogging = level >= VERBOSE_LEVEL
    cfg.logConfig.decor = pj.PJ_LOG_HAS_SENDER  # no time or colour: the record has its own
    cfg.logConfig.writer = writer
    writer.__disown__()  # the endpoint owns it now (libDestroy deletes it)
    return writer


@contextlib.contextmanager
def startup_silenced() -> Iterator[None]:
    """Around libCreate and libInit: pjlib prints its start-up to stdout, at
    level 5, before libInit hands the log to the writer."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        ctypes.CDLL(None).fflush(None)  # C stdio's buffer goes to /dev/null too
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
