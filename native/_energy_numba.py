"""Numba kernel for frame energy. Reference: _energy_ref.py."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

_PCM = types.Array(types.int16, 1, "C")
_SIGNATURES = [types.float64(_PCM), types.float64(_PCM.copy(readonly=True))]


@njit(_SIGNATURES, cache=True, nogil=True)
def level_db(pcm: np.ndarray) -> float:
    n = pcm.shape[0]
    if n == 0:
        return -120.0
    acc = 0.0
    for i in range(n):
        v = float(pcm[i])
        acc += v * v
    return 10.0 * math.log10(acc / n / (32768.0 * 32768.0) + 1e-12)
