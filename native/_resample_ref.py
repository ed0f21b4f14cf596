"""Pure-numpy reference for the streaming polyphase resampler (_resample.pyx)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from native._checks import as_array


class Resampler:
    def __init__(self, in_rate: int, out_rate: int, up: int, down: int, table: np.ndarray) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._up, self._down = up, down
        self._table = np.asarray(table, dtype=np.float32)
        if self._table.ndim != 2 or self._table.shape[0] != up or self._table.shape[1] % 8:
            raise ValueError("table: expected shape (up, multiple of 8)")
        self._taps = self._table.shape[1]
        self.reset()

    def reset(self) -> None:
        self._history = np.zeros(self._taps - 1, dtype=np.float32)
        self._pos = self._taps - 1
        self._phase = 0

    def process(self, samples: object) -> np.ndarray:
        is_float = isinstance(samples, np.ndarray) and samples.dtype == np.float32
        dtype = np.dtype(np.float32 if is_float else np.int16)
        x = as_array(samples, "samples", 1 << 24, dtype)
        if is_float and not np.isfinite(x).all():
            index = int(np.flatnonzero(~np.isfinite(x))[0])
            raise ValueError(f"samples: non-finite value at index {index}")
        buf = np.concatenate([self._history, x.astype(np.float32)])
        end = buf.size
        # Positions and phases of every output whose newest input is here.
        count = 0
        if self._pos < end:
            steps = (end - self._pos) * self._up - self._phase
            count = -(-steps // self._down)
        k = np.arange(count, dtype=np.int64) * self._down + self._phase
        pos = self._pos + k // self._up
        phase = k % self._up
        windows = sliding_window_view(buf, self._taps)[pos - self._taps + 1]
        acc = np.einsum(
            "nk,nk->n", windows.astype(np.float64), self._table[phase].astype(np.float64)
        )
        total = count * self._down + self._phase
        self._pos = self._pos + total // self._up - x.size
        self._phase = total % self._up
        self._history = buf[x.size :].copy()
        out: np.ndarray = acc.astype(np.float32)
        if not is_float:
            out = np.clip(np.rint(acc), -32768, 32767).astype(np.int16)
        return out
