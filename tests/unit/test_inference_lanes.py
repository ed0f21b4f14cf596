"""The inference service's lanes with stand-in models, in their real threads:
the queue bound refuses at once, what waits behind a running job goes in one
batch, first clauses go before later ones, a cancelled job never runs."""

from __future__ import annotations

import threading

import pytest

from mediaserver.inference.lanes import Lane, Saturated


class HeldModel:
    """Runs batches; the first blocks until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def run(self, items: list[str]) -> list[str]:
        self.batches.append(items)
        self.started.set()
        self.release.wait(5)
        return [item.upper() for item in items]


def test_a_full_queue_refuses_at_once_and_admitted_work_still_gets_in() -> None:
    model = HeldModel()
    lane = Lane("llm", model.run, capacity=2)
    try:
        running = lane.submit("a")
        assert model.started.wait(5)
        waiting = [lane.submit("b"), lane.submit("c")]
        assert lane.saturated
        with pytest.raises(Saturated, match="llm model is saturated"):
            lane.submit("d")
        later = lane.submit("rest of c", admitted=True)  # a request under way is not cut
        model.release.set()
        assert [f.result(5) for f in (running, *waiting, later)] == ["A", "B", "C", "REST OF C"]
        assert lane.rejected == 1
    finally:
        lane.close()


def test_work_under_way_waiting_again_does_not_count_toward_the_bound() -> None:
    model = HeldModel()
    lane = Lane("llm", model.run, capacity=2)
    try:
        running = lane.submit("a")
        assert model.started.wait(5)
        paused = [lane.submit(f"rest of {x}", admitted=True) for x in "xyz"]  # paused replies
        assert lane.waiting == 3 and not lane.saturated
        new = [lane.submit("b"), lane.submit("c")]  # two new requests still get in
        assert lane.saturated
        with pytest.raises(Saturated, match="2 requests are already waiting"):
            lane.submit("d")
        model.release.set()
        assert [f.result(5) for f in (running, *new)] == ["A", "B", "C"]
        assert all(f.result(5) for f in paused) and not lane.saturated
    finally:
        lane.close()


def test_requests_waiting_behind_a_batch_go_together_in_the_next_one() -> None:
    model = HeldModel()
    lane = Lane("stt", model.run, capacity=16, max_batch=3)
    try:
        first = lane.submit("a")
        assert model.started.wait(5)
        rest = [lane.submit(x) for x in "bcde"]
        model.release.set()
        assert [f.result(5) for f in (first, *rest)] == ["A", "B", "C", "D", "E"]
        assert model.batches == [["a"], ["b", "c", "d"], ["e"]]
    finally:
        lane.close()


def test_a_first_clause_goes_before_later_ones_and_a_cancelled_job_never_runs() -> None:
    model = HeldModel()
    lane = Lane("tts", model.run, capacity=16)
    try:
        lane.submit("busy")
        assert model.started.wait(5)
        later = lane.submit("third clause of a reply", priority=1)
        dropped = lane.submit("a caller hung up", priority=0)
        first = lane.submit("first clause of another", priority=0)
        assert dropped.cancel()
        model.release.set()
        later.result(5), first.result(5)
        assert [b[0] for b in model.batches] == [
            "busy",
            "first clause of another",
            "third clause of a reply",
        ]
    finally:
        lane.close()
