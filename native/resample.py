"""Streaming sample-rate conversion (8000, 16000, 22050, 24000, 48000 Hz and others).

    rs = resample.resampler(8000, 16000)
    out = rs.process(frame_int16)      # output for every input chunk
    rs.delay_seconds                   # the filter's group delay (<= 1.75 ms)

A polyphase FIR whose prototype (native/_resample_filter.py) is specified
relative to the lower of the two rates: flat within 0.03 dB up to 0.85 x its
Nyquist, >= 80 dB image/alias rejection. The filter for a rate pair is the
prototype, interpolated onto that pair's polyphase grid.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd
from typing import Protocol

import numpy as np

from native import _resample_filter, load_kernel

RATES = (8000, 16000, 22050, 24000, 48000)  # the rates calls use, all tested
MIN_RATE, MAX_RATE = 4000, 192000  # any integer rate in between works (e.g. a 44.1 kHz WAV)
LANES = 8  # rows of the polyphase table are padded to a multiple of this

_kernel = load_kernel("native._resample", "native._resample_ref")


class Resampler(Protocol):
    in_rate: int
    out_rate: int

    def process(self, samples: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


class _Passthrough:
    """Same rate in and out: a copy, so the result obeys the same reuse rule."""

    def __init__(self, rate: int) -> None:
        self.in_rate = self.out_rate = rate

    def process(self, samples: np.ndarray) -> np.ndarray:
        if not isinstance(samples, np.ndarray) or samples.dtype not in (np.int16, np.float32):
            raise TypeError("samples: expected a numpy int16 or float32 array")
        if samples.ndim != 1:
            raise ValueError(f"samples: expected a 1-D array, got {samples.ndim} dimensions")
        if samples.dtype == np.float32 and not np.isfinite(samples).all():
            raise ValueError("samples: non-finite value")
        return samples.copy()

    def reset(self) -> None:
        pass


def _check_rate(name: str, rate: object) -> int:
    if type(rate) is not int or not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"{name}: expected an int from {MIN_RATE} to {MAX_RATE} Hz, got {rate!r}")
    return rate


def resampler(in_rate: int, out_rate: int) -> Resampler:
    """A streaming resampler from in_rate to out_rate."""
    _check_rate("in_rate", in_rate)
    _check_rate("out_rate", out_rate)
    if in_rate == out_rate:
        return _Passthrough(in_rate)
    up, down = ratio(in_rate, out_rate)
    r: Resampler = _kernel.Resampler(
        in_rate, out_rate, up, down, polyphase_table(in_rate, out_rate)
    )
    return r


def ratio(in_rate: int, out_rate: int) -> tuple[int, int]:
    """(up, down): the reduced interpolation and decimation factors."""
    g = gcd(in_rate, out_rate)
    return out_rate // g, in_rate // g


def delay_seconds(in_rate: int, out_rate: int) -> float:
    """The added delay: the group delay of the filter, half its length."""
    if in_rate == out_rate:
        return 0.0
    return _resample_filter.LENGTH_IN_LOW_SAMPLES / 2 / min(in_rate, out_rate)


def _prototype() -> np.ndarray:
    half = np.array(_resample_filter.HALF)
    return np.concatenate([half, half[-2::-1]])


def _kaiser_sinc(t: np.ndarray, half_width: int, beta: float) -> np.ndarray:
    x = np.clip(t / half_width, -1.0, 1.0)
    window = np.i0(beta * np.sqrt(1.0 - x * x)) / np.i0(beta)
    return np.where(np.abs(t) < half_width, np.sinc(t) * window, 0.0)


def _continuous(t: np.ndarray) -> np.ndarray:
    """The prototype as a function of time t, in samples of the lower rate.

    Band-limited interpolation between its 8x-oversampled taps with a short
    Kaiser-windowed sinc: the prototype is quiet far above its stop-band edge,
    so 12 taps with a wide transition suffice (> 110 dB).
    """
    proto = _prototype()
    u = t * _resample_filter.OVERSAMPLING
    base = np.floor(u).astype(np.int64)
    out = np.zeros_like(t)
    half_width = 6
    for offset in range(-half_width + 1, half_width + 1):
        j = base + offset
        valid = (j >= 0) & (j < proto.size)
        taps = np.where(valid, proto[np.clip(j, 0, proto.size - 1)], 0.0)
        out += taps * _kaiser_sinc(u - j, half_width, 12.0)
    return out


@lru_cache(maxsize=32)
def filter_taps(in_rate: int, out_rate: int) -> np.ndarray:
    """The full filter at rate up * in_rate, with DC gain `up` (float64)."""
    up, _ = ratio(in_rate, out_rate)
    step = min(in_rate, out_rate) / (up * in_rate)  # lower-rate samples per tap
    n = int(np.ceil(_resample_filter.LENGTH_IN_LOW_SAMPLES / step)) + 1
    taps = _continuous(np.arange(n) * step)
    taps *= up / taps.sum()
    return taps


@lru_cache(maxsize=32)
def polyphase_table(in_rate: int, out_rate: int) -> np.ndarray:
    """Row p holds phase p's taps, oldest input first, padded to LANES columns.

    Output y[n] with n * down = i * up + p is sum_k h[p + k * up] * x[i - k];
    the row is that sum's coefficients reversed so the kernel takes one
    contiguous dot product over the input history.
    """
    up, _ = ratio(in_rate, out_rate)
    taps = filter_taps(in_rate, out_rate)
    per_phase = -(-taps.size // up)
    width = -(-per_phase // LANES) * LANES
    padded = np.zeros(width * up)
    padded[: taps.size] = taps
    phases = padded.reshape(width, up).T  # phases[p, k] = h[p + k * up]
    table = np.ascontiguousarray(phases[:, ::-1], dtype=np.float32)
    table.setflags(write=False)
    return table
