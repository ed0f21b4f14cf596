"""The server fixes glibc's mmap threshold, so a freed large block goes back
to the system instead of staying in an arena (bench.soak's growth)."""

from __future__ import annotations

import os
import subprocess
import sys

# In a child: the setting is process-wide. A 1 MB block freed would raise
# glibc's dynamic threshold to 1 MB; a 512 KB block after it is then mmapped
# (hblks 1) only if the threshold stayed where the server fixed it.
PROBE = """
import ctypes, sys
from mediaserver import malloc
if sys.argv[1] == "fixed":
    assert malloc.return_large_blocks()
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
libc.mallinfo2.restype = Info
libc.free(libc.malloc(1 << 20))
before = libc.mallinfo2().hblks
block = libc.malloc(512 << 10)
print(libc.mallinfo2().hblks - before)
libc.free(block)
"""


def mmapped_blocks(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, env=env
    )
    return int(out.stdout)


def test_a_freed_large_block_does_not_raise_the_threshold_once_fixed() -> None:
    assert mmapped_blocks("default") == 0  # glibc's own behaviour: the arena keeps it
    assert mmapped_blocks("fixed") == 1
