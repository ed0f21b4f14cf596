"""Frame level in dBFS (a full-scale square wave is 0 dB; silence is -120)."""

from __future__ import annotations

import numpy as np

from native import load_kernel
from native._checks import as_pcm

_kernel = load_kernel("native._energy_numba", "native._energy_ref")


def level_db(pcm: np.ndarray) -> float:
    """RMS level of an int16 frame in dB relative to full scale."""
    x = as_pcm(pcm, "pcm", 1 << 24)
    level: float = _kernel.level_db(x)
    return level
