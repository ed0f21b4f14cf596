"""Three minutes of bench.soak in the suite: calls at capacity, back to back,
against a real server. Only what does not depend on the machine's speed is
asserted: memory settles, descriptors and threads do not pile up, and every
answered call is recorded."""

from __future__ import annotations

import pytest

from bench import soak

pytestmark = pytest.mark.integration


# With glibc's own mmap threshold the server's RSS climbs for its first few
# minutes of calls and then settles (README, Memory over many calls): freed model
# buffers kept in its arenas, 3-8 % in this test's window, not a leak. Freed
# blocks of 256 KB and more go back to the system here, so RSS follows what
# the server holds and a leak stands out within three minutes.
LEAK_HUNT_MMAP_THRESHOLD = 256 * 1024


def test_three_minutes_of_calls_at_capacity_leak_nothing_and_are_all_recorded() -> None:
    result = soak.run(
        minutes=3,
        sample_seconds=10,
        warmup_minutes=1,
        call_seconds=10,
        mmap_threshold=LEAK_HUNT_MMAP_THRESHOLD,
    )
    assert result["server_alive"], result.get("log_tail")
    summary = {k: v for k, v in result.items() if k != "samples"} | {"samples": result["samples"]}
    assert result["calls_answered"] >= 8, summary
    assert result["goals"] == {
        "rss_growth_below_5_percent": True,
        "fds_flat": True,
        "threads_flat": True,
        "every_answered_call_recorded": True,
    }, summary
