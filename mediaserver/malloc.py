"""Freed memory handed back to the system after each call.

glibc keeps what is freed in its arenas for reuse, and raises its mmap
threshold (up to 32 MB) once large blocks have been freed, so the models'
per-request buffers (audio, features, decoder scratch) come from the arenas.
A server taking call after call grew by 1-3 MB a call that way (bench.soak:
4-7 % in three minutes) while the memory in use stayed flat. Fixing the
threshold low stopped the growth but made every whisper decode pay for
fresh pages (+60-110 ms a transcription); trimming the arenas after a call
keeps the reuse during the call and gives back what the call left."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None  # not glibc: nothing to do
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def trim() -> bool:
    """Blocking (tens of ms on a large heap: call it off the event loop):
    return the arenas' free pages to the system; True if any went back."""
    return bool(_TRIM(0)) if _TRIM is not None else False
