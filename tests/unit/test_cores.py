"""The models take turns on the cores, the step due soonest first; a reply's
first words are due when asked for, its later words as playback reaches them."""

from __future__ import annotations

import threading
import time

import pytest

from mediaserver.cores import FIRST_WORDS, LATER_CLAUSE_S, WORD_S, Cores, ReplyDue, clause_due


def hold_in_thread(cores: Cores, due: float, log: list[str], name: str) -> threading.Thread:
    def step() -> None:
        with cores.held(due):
            log.append(f"{name} in")
            time.sleep(0.01)
            log.append(f"{name} out")

    thread = threading.Thread(target=step)
    thread.start()
    return thread


def wait_for_waiters(cores: Cores, count: int) -> None:
    deadline = time.monotonic() + 5
    while cores.waiting < count:
        assert time.monotonic() < deadline, "the steps never queued"
        time.sleep(0.001)


def test_steps_waiting_take_the_cores_in_order_of_due_time_not_arrival() -> None:
    cores, log = Cores(), []
    holding, release = threading.Event(), threading.Event()

    def running() -> None:
        with cores.held(0.0):
            holding.set()
            release.wait(5)

    holder = threading.Thread(target=running)
    holder.start()
    assert holding.wait(5)
    threads = []
    for count, (name, due) in enumerate([("later", 3.0), ("now", 1.0), ("soon", 2.0)], 1):
        threads.append(hold_in_thread(cores, due, log, name))
        wait_for_waiters(cores, count)
    release.set()
    for thread in [holder, *threads]:
        thread.join(5)
    assert log == ["now in", "now out", "soon in", "soon out", "later in", "later out"]
    assert cores.waits == 3 and cores.waited_s > 0


@pytest.mark.parametrize(("next_due", "gives_way"), [(5.0, True), (1.0, False)])
def test_a_holder_gives_way_between_its_steps_only_to_a_step_due_sooner(
    next_due: float, gives_way: bool
) -> None:
    cores, log = Cores(), []
    with cores.held(0.0):
        waiter = hold_in_thread(cores, 2.0, log, "waiter")
        wait_for_waiters(cores, 1)
        cores.give_way(next_due)
        log.append("holder's next step")
    waiter.join(5)
    if gives_way:
        assert log == ["waiter in", "waiter out", "holder's next step"]
    else:
        assert log == ["holder's next step", "waiter in", "waiter out"]


def test_one_step_at_a_time_and_all_of_them_run() -> None:
    cores, inside, most = Cores(), [0], [0]
    lock = threading.Lock()

    def steps(due: float) -> None:
        for _ in range(50):
            with cores.held(due):
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.0005)
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=steps, args=(float(i),)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most[0] == 1 and not any(t.is_alive() for t in threads)


def test_unshared_cores_let_every_step_run_at_once() -> None:
    cores, both_in = Cores(shared=False), threading.Barrier(2, timeout=5)

    def step() -> None:
        with cores.held(0.0):
            both_in.wait()  # raises BrokenBarrierError if the other cannot come in

    threads = [threading.Thread(target=step) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert cores.waits == 0 and not both_in.broken


def test_a_step_that_fails_gives_the_cores_back() -> None:
    cores = Cores()
    with pytest.raises(RuntimeError), cores.held(0.0):
        raise RuntimeError("the model failed")
    with cores.held(0.0):
        pass
    assert cores.waits == 0


def test_a_replys_first_words_are_due_when_asked_and_later_words_as_playback_reaches_them() -> None:
    due = ReplyDue(asked=10.0)
    first = " ".join(["word"] * FIRST_WORDS)
    assert due.next_token("", 10.5) == 10.0
    assert due.next_token(first, 10.6) == 10.0
    assert due.next_token(first + " more", 10.7) == pytest.approx(10.7 + WORD_S)
    assert due.next_token(first + " more and more", 11.5) == pytest.approx(10.7 + 3 * WORD_S)


def test_a_tool_call_is_due_when_asked_however_long() -> None:
    due = ReplyDue(asked=5.0)
    call = '<tool_call>\n{"name": "book", "arguments": {"day": "next Tuesday at nine"}}'
    assert due.next_token(call, 9.0) == 5.0


def test_a_first_clause_is_due_when_asked_and_a_later_one_after_the_clause_before_it() -> None:
    assert clause_due(2.0, first=True) == 2.0
    assert clause_due(2.0, first=False) == 2.0 + LATER_CLAUSE_S
