"""PJSIP's media threads, found by the names pjlib gives them, get the nice
value; other threads keep theirs, and each thread is changed once."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mediaserver.transports.media_priority import MediaPriority

PR_SET_NAME = 15


@contextmanager
def named_thread(name: str) -> Iterator[int]:
    """A thread whose kernel name is `name` (as pjlib names its own), alive inside."""
    ready, done = threading.Event(), threading.Event()
    tid: list[int] = []

    def run() -> None:
        ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
        tid.append(threading.get_native_id())
        ready.set()
        done.wait(10)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield tid[0]
    finally:
        done.set()
        thread.join(5)


def nice_of(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


def test_the_clock_and_media_threads_get_the_nice_value_and_others_do_not() -> None:
    # a higher nice value needs no privilege, so the test runs as anyone
    with (
        named_thread("clock") as clock,
        named_thread("media") as media,
        named_thread("stt_0") as other,
    ):
        priority = MediaPriority(nice=7)
        assert priority.apply() == 2
        assert (nice_of(clock), nice_of(media)) == (7, 7)
        assert nice_of(other) == nice_of(threading.get_native_id())
        assert priority.apply() == 0  # each thread once


def test_zero_leaves_every_thread_as_it_is() -> None:
    with named_thread("clock") as clock:
        before = nice_of(clock)
        assert MediaPriority(nice=0).apply() == 0
        assert nice_of(clock) == before


def test_realtime_puts_the_media_threads_on_sched_rr_and_only_them() -> None:
    if os.geteuid() != 0:
        pytest.skip("SCHED_RR needs CAP_SYS_NICE")
    with named_thread("clock") as clock, named_thread("stt_0") as other:
        assert MediaPriority(nice=-10, realtime=5).apply() == 1
        assert os.sched_getscheduler(clock) == os.SCHED_RR
        assert os.sched_getparam(clock).sched_priority == 5
        assert os.sched_getscheduler(other) == os.SCHED_OTHER


def test_realtime_refused_falls_back_to_the_nice_value_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with named_thread("clock") as clock, named_thread("media") as media:
        assert MediaPriority(nice=7, realtime=5).apply() == 2
        assert (nice_of(clock), nice_of(media)) == (7, 7)
    refusals = [r for r in caplog.records if "SCHED_RR needs CAP_SYS_NICE" in r.message]
    assert len(refusals) == 1
