"""The box's cores, lent to one model at a time, the work due soonest first.

On a CPU box each model (CTranslate2, llama.cpp, onnxruntime) computes on
every core. Two at once finish no sooner than one after the other: their
thread pools take turns at every barrier, and the latency of each doubles.
So the models take turns, one step at a time (a token, a clause, a batch of
transcripts), in order of when each step is due:
- a caller waiting in silence is owed its transcript, its reply's first
  words and their voice now: due when asked for;
- a reply's later words and clauses are owed when playback reaches them,
  which is later: a reply writes and speaks faster than it is heard.
A step waits at most for the one running, so nothing waits long behind
work that can wait, and later work is never starved: its due time stays
put while new work comes due after it. A model that computes step after
step (the LLM, token by token) keeps the cores between its steps and gives
way only to a step due sooner than its next: given back between steps, they
would go to whichever thread came first.

On a GPU box the models do not share the cores: `Cores(shared=False)` lets
every step run at once. Shared by the in-process models (services/local.py)
and the inference service (inference/engines.py)."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Iterator

FIRST_WORDS = 4  # words of a reply a caller waits for in silence (the clients' first clause)
WORD_S = 0.25  # each later word is due this much after the one before (speech: ~0.4 s a word)
LATER_CLAUSE_S = 0.5  # a later clause is due this long after it is asked for (one plays before)


class Cores:
    def __init__(self, shared: bool = True) -> None:
        self.shared = shared
        self.waits = 0  # steps that found the cores busy
        self.waited_s = 0.0  # and how long they waited, in all
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int]] = []  # (due, arrival) of the steps waiting
        self._arrivals = itertools.count()
        self._busy = False

    @property
    def waiting(self) -> int:
        """Steps waiting for the cores."""
        return len(self._queue)

    @contextlib.contextmanager
    def held(self, due: float) -> Iterator[None]:
        """Run the block with the cores (blocking until they are free and no step
        due sooner waits); `due`: when its result is owed, in time.monotonic()."""
        if not self.shared:
            yield
            return
        with self._cond:
            if self._busy or self._queue:
                self._wait_turn(due)
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                if self._queue:
                    self._cond.notify_all()

    def give_way(self, due: float) -> None:
        """Inside `held`, before the holder's next step, due at `due`: if a step
        due sooner waits, let it (and any others due sooner) run, then take the
        cores back. (Unshared, nothing ever waits.)"""
        with self._cond:
            if self._queue and self._queue[0][0] < due:
                self._busy = False
                self._cond.notify_all()
                self._wait_turn(due)
                self._busy = True

    def _wait_turn(self, due: float) -> None:
        """With the lock held and the cores not ours: wait until they are free
        and no step due sooner waits."""
        started = time.monotonic()
        ticket = (due, next(self._arrivals))
        heapq.heappush(self._queue, ticket)
        while self._busy or self._queue[0] != ticket:
            self._cond.wait()
        heapq.heappop(self._queue)
        self.waits += 1
        self.waited_s += time.monotonic() - started


class ReplyDue:
    """When a reply's next token is due: its first words (and a tool call,
    whose result the caller waits for) when the reply was asked for; then
    one word every WORD_S after the first words were out."""

    def __init__(self, asked: float) -> None:
        self.asked = asked
        self.first_words_out: float | None = None

    def next_token(self, text: str, now: float) -> float:
        if awaited(text):
            return self.asked
        words = len(text.split())
        if self.first_words_out is None:
            self.first_words_out = now
        return self.first_words_out + (words - FIRST_WORDS) * WORD_S


def awaited(text: str) -> bool:
    """A reply written so far is still awaited in silence: its first words are
    not all out, or it is a tool call (written whole: the caller waits for
    its result)."""
    return len(text.split()) <= FIRST_WORDS or text.lstrip().startswith(("<", "{"))


def clause_due(asked: float, first: bool) -> float:
    return asked if first else asked + LATER_CLAUSE_S
