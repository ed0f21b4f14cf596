"""Run a coroutine on an event loop whose clock is virtual: timers fire at
once in order and the clock jumps to them, so a 30-second call takes
milliseconds and its timings are exact. Nothing here may wait on real I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.new_event_loop()
    clock = [1000.0]
    selector = loop._selector  # type: ignore[attr-defined]
    real_select = selector.select

    def select(timeout: float | None = None) -> Any:
        if timeout is not None and timeout > 0:
            clock[0] += timeout
        return real_select(0)

    selector.select = select
    loop.time = lambda: clock[0]  # type: ignore[method-assign]
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
