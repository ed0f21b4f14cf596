"""Pure-numpy reference for the frame energy kernel (_energy_numba.py)."""

from __future__ import annotations

import numpy as np


def level_db(pcm: np.ndarray) -> float:
    if pcm.shape[0] == 0:
        return -120.0
    x = pcm.astype(np.float64)
    return float(10.0 * np.log10(np.dot(x, x) / pcm.shape[0] / (32768.0 * 32768.0) + 1e-12))
