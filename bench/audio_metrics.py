"""Measurements of resampler quality, shared by bench/ and the tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Resample = Callable[[np.ndarray], np.ndarray]  # float32 in [-1, 1] -> float32
AMPLITUDE = 0.5
_WINDOW_BETA = 20.0  # Kaiser window: side lobes far below what we measure
_GUARD_BINS = 12


def tone(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (AMPLITUDE * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def spectrum(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, amplitudes) of x with the start-up transient cut off."""
    x = np.asarray(x, dtype=np.float64)[rate // 20 :]
    window = np.kaiser(x.size, _WINDOW_BETA)
    amplitude = np.abs(np.fft.rfft(x * window)) * 2.0 / window.sum()
    return np.fft.rfftfreq(x.size, 1.0 / rate), amplitude


def rejection_db(resample: Resample, in_rate: int, out_rate: int) -> float:
    """Worst alias (down) or image (up) level under a full tone, in dB.

    Only products that land in the pass band (0..0.85 x the lower Nyquist)
    count: the transition band up to the lower Nyquist may alias. inf when
    none can (e.g. 22050 -> 24000 has no room for an image).
    """
    low = min(in_rate, out_rate)
    edge = 0.85 * low / 2
    worst = np.inf
    if out_rate < in_rate:
        for freq in np.linspace(1.02 * low / 2, 0.98 * in_rate / 2, 9):
            freqs, amp = spectrum(resample(tone(freq, in_rate)), out_rate)
            aliases = amp[freqs <= edge + _GUARD_BINS * freqs[1]]
            worst = min(worst, 20 * np.log10(AMPLITUDE / max(aliases.max(), 1e-12)))
    else:
        for freq in np.linspace(0.05 * edge, edge, 7):
            freqs, amp = spectrum(resample(tone(freq, in_rate)), out_rate)
            step = freqs[1]
            images = amp[freqs >= in_rate - edge - _GUARD_BINS * step]
            if images.size:  # else no image can land below the output's Nyquist
                worst = min(worst, 20 * np.log10(AMPLITUDE / max(images.max(), 1e-12)))
    return float(worst)


def passband_deviation_db(resample: Resample, in_rate: int, out_rate: int) -> float:
    """Largest gain error in dB for tones from 50 Hz to 0.85 x the lower Nyquist."""
    edge = 0.85 * min(in_rate, out_rate) / 2
    worst = 0.0
    for freq in np.linspace(50.0, edge, 9):
        y = np.asarray(resample(tone(freq, in_rate)), dtype=np.float64)
        worst = max(worst, abs(20 * np.log10(tone_amplitude(y, freq, out_rate) / AMPLITUDE)))
    return worst


def tone_amplitude(y: np.ndarray, freq: float, rate: int) -> float:
    """Amplitude of the tone at `freq` in y (least squares, transients cut off)."""
    y = y[rate // 20 : -rate // 20]
    t = np.arange(y.size) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    (a, b), *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(np.hypot(a, b))
