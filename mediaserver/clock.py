"""Time for the conversation: the event loop's clock.

Everything that measures or waits goes through the running loop, so a test
loop with virtual time (tests/virtual_time.py) runs a 30-second call in
milliseconds and the same code runs on the wall clock in production.
"""

from __future__ import annotations

import asyncio


def now() -> float:
    """Seconds on the running loop's monotonic clock."""
    return asyncio.get_running_loop().time()
