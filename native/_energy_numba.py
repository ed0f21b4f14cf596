"""Numba kernel for frame energy. Reference: _energy_ref.py."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit("float64(int16[::1])", cache=True, nogil=True, fastmath=False)
def level_db(pcm: np.ndarray) -> float:
    acc = 0.0
    for i in range(pcm.shape[0]):
        v = float(pcm[i])
        acc += v * v
    if pcm.shape[0] == 0:
        return -120.0
    return 10.0 * math.log10(acc / pcm.shape[0] / (32768.0 * 32768.0) + 1e-12)
