"""glibc's malloc told to give large blocks back to the system when they are freed.

By default glibc raises its mmap threshold each time a large mmapped block is
freed (up to 32 MB), after which the models' per-request buffers (audio,
features, decoder scratch) come from the arenas instead. Freed there they
stay in the process: a server taking call after call grew by 1-3 MB a call
(bench.soak), while the memory in use stayed flat. A fixed threshold keeps
blocks from 256 KB up mmapped, returned on free."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # malloc.h
THRESHOLD_BYTES = 256 * 1024


def return_large_blocks(threshold: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold (which also stops it moving); False where
    the C library is not glibc (nothing to do there)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, threshold) != 1:
        log.warning("malloc kept its own mmap threshold")
        return False
    return True
