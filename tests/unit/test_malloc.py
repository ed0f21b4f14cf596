"""After a call the server hands glibc's free arena pages back to the system
(bench.soak's growth was memory freed but kept by malloc)."""

from __future__ import annotations

import subprocess
import sys

# In a child, so the arenas are this test's alone: a few MB allocated in small
# blocks and freed stay resident until trimmed.
PROBE = """
import ctypes
from mediaserver import malloc
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
blocks = [libc.malloc(60_000) for _ in range(2000)]  # 120 MB, under the mmap threshold
for block in blocks:
    ctypes.memset(block, 1, 60_000)
keep = libc.malloc(50_000)  # a live block on top: the heap cannot simply shrink from its end
ctypes.memset(keep, 1, 50_000)
for block in blocks:
    libc.free(block)
before = rss_kb()
assert malloc.trim()
print(before - rss_kb())
"""


def test_trim_hands_freed_arena_memory_back() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert int(out.stdout) > 100_000  # KB: nearly all of the 120 MB
