"""MarkedPlayout: what the caller heard, from Twilio's echoed marks."""

from __future__ import annotations

import numpy as np

from mediaserver.transports.marked_playout import MarkedPlayout

FRAME = 320


def clip(samples: int, level: int) -> np.ndarray:
    return np.full(samples, level, dtype=np.int16)


def send(playout: MarkedPlayout, frames: int) -> list[str]:
    """Read `frames` frames as the transport does; the marks due after them."""
    marks: list[str] = []
    for _ in range(frames):
        playout.read()
        marks += playout.take_marks()
    return marks


def test_a_clause_counts_as_heard_once_its_mark_comes_back() -> None:
    clears: list[int] = []
    playout = MarkedPlayout(on_clear=lambda: clears.append(1))
    assert playout.write(clip(1000, 100), utterance=1) == 1000
    assert playout.write(clip(640, 200), utterance=2) == 640
    assert send(playout, 3) == []  # 960 samples out: the first clause is not over yet
    assert playout.played(1) == 960  # sent counts as heard while a clause plays
    marks = send(playout, 1)  # the frame with the clause's end, and 280 of the next
    assert marks == ["1000"]
    assert playout.played(1) == 999  # all but confirmed: the reply is not finished yet
    assert playout.played(2) == 0
    assert playout.confirm("1000")
    assert playout.played(1) == 1000
    assert playout.played(2) == 280
    assert send(playout, 2) == ["1640"]
    assert playout.played(2) == 639
    assert playout.confirm("1640") and playout.played(2) == 640
    assert not playout.confirm("1640")  # once
    assert not playout.confirm("nonsense")
    playout.clear()
    assert clears == []  # nothing queued, nothing unheard: no clear for Twilio


def test_barge_in_clears_the_peer_and_ignores_the_marks_it_returns() -> None:
    clears: list[int] = []
    playout = MarkedPlayout(on_clear=lambda: clears.append(1))
    playout.write(clip(640, 100), utterance=1)
    playout.write(clip(3200, 200), utterance=2)
    assert send(playout, 2) == ["640"]
    assert playout.confirm("640")
    send(playout, 3)  # 960 samples of clause 2 sent
    assert playout.played(2) == 960
    assert playout.clear() == 3200 - 960
    assert clears == [1]
    heard = playout.played(2)
    assert heard == 960
    # the engine resumes clause 2 where the caller stopped hearing it
    assert playout.write(clip(3200 - heard, 200), utterance=2) == 3200 - heard
    marks = send(playout, 8)
    assert marks == [str(1600 + 3200 - heard)]
    assert playout.played(2) == 3199
    assert playout.confirm(marks[0])
    assert playout.played(2) == 3200


def test_marks_pending_at_a_clear_mean_nothing() -> None:
    playout = MarkedPlayout()
    playout.write(clip(600, 100), utterance=1)
    playout.write(clip(6400, 100), utterance=2)
    marks = send(playout, 4)  # clause 1 sent and marked, but not echoed yet
    assert marks == ["600"]
    assert playout.played(1) == 599
    playout.clear()  # the caller spoke: Twilio drops its buffer, echoes the mark at once
    assert not playout.confirm("600")
    assert playout.played(1) == 599  # the echo of a clear is no proof of playing
    assert playout.played(2) == 0
