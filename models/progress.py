"""One line per step of the set-up, with a progress bar while it runs.

On a terminal the bar redraws in place; elsewhere (CI, a pipe) only the
closing line is printed, so logs stay one line per step."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 24


class Progress:
    def __init__(self, label: str, total: int = 0, out: TextIO | None = None) -> None:
        self.name = label
        self.label = label  # the name, with what is happening now
        self.total = total
        self.done = 0
        self.out = out or sys.stdout
        self.live = self.out.isatty()
        self.started = time.monotonic()
        self._drawn = 0.0

    def advance(self, count: int) -> None:
        self.update(self.done + count)

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self.live and now - self._drawn >= 0.1:
            self._drawn = now
            self.out.write(f"\r{self._bar()}")
            self.out.flush()

    def finish(self, note: str = "") -> None:
        seconds = time.monotonic() - self.started
        line = f"{self.name:44} {note + ' ' if note else ''}done in {seconds:.0f} s"
        self.out.write(f"\r{line:80}\n" if self.live else f"{line}\n")
        self.out.flush()

    def _bar(self) -> str:
        if not self.total:
            return f"{self.label:44} {self.done / 1e6:7.1f} MB"
        share = min(1.0, self.done / self.total)
        filled = int(share * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        return f"{self.label:44} [{bar}] {share:4.0%} of {self.total / 1e6:.0f} MB"
