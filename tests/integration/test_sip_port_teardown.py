"""A call's port deleted while PJSIP's bridge still ticks it (every short call
does this) must not touch a Python object half torn down: a flood of 20 ms
calls segfaulted the server that way (test_hostile_sip's flood, in CI)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def churn(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.port_churn", "--seconds", "8", *flags],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ports_destroyed_under_a_ticking_bridge_leave_the_process_whole() -> None:
    out = churn()
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.split()[-1]) > 500  # enough churn to have crashed the old way


def test_the_churn_catches_ports_left_to_garbage_collection() -> None:
    """The same churn, ports left to the collector: the crash this guards against
    (so the test above can fail)."""
    out = churn("--collect")
    assert out.returncode != 0 or "has no attribute 'live'" in out.stderr, out.stdout
