"""A reply's first clause goes first: while one is synthesised, the LLM waits
between tokens. That audio is what a caller is waiting for, and on a small CPU
Piper and llama.cpp running at once make it about twice as slow; the LLM is
ahead of playback anyway. Later clauses have the playback of the ones before
them in hand, so they pause nobody's reply. Shared by the in-process models
(services/local.py) and the inference service (inference/engines.py)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

# The longest the LLM waits for the voice between two tokens (so a busy voice
# slows replies down but cannot stall them).
MAX_WAIT_S = 1.0


class VoiceFirst:
    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s  # 0: the LLM never waits (a GPU box, a bench peer)
        self._speaking = 0  # first clauses queued or in synthesis; counted on the event loop
        self._idle = threading.Event()
        self._idle.set()

    @contextlib.contextmanager
    def clause(self, first: bool) -> Iterator[None]:
        """Around a clause's synthesis (on the event loop): a first one holds the LLM."""
        if not first:
            yield
            return
        self._speaking += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._speaking -= 1
            if not self._speaking:
                self._idle.set()

    def between_tokens(self) -> None:
        """On the LLM's thread, after each token: wait while a first clause is spoken."""
        if self.max_wait_s:
            self._idle.wait(self.max_wait_s)
