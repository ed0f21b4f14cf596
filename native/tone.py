"""Steady-tone detection (an answering machine's beep): Goertzel filters over
10 ms blocks, a tone counted once it has held min_ms at one frequency.

det = tone.detector(16000)              # 400-2,000 Hz, held >= 150 ms
completed = det.process(pcm_int16)      # any chunk size; tones that ended
det.tone_ms, det.tone_hz                # the tone under way (0: none)
det.tones, det.last_end, det.last_hz    # tones completed; where the last one ended
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from native import load_kernel

_kernel = load_kernel("native._tone", "native._tone_ref")


class ToneDetector(Protocol):
    rate: int
    block_samples: int
    frequencies: np.ndarray
    tones: int  # steady tones of at least min_ms that have ended
    last_end: int  # the sample (from the stream's start) where the last one ended; -1: none
    last_ms: int
    last_hz: float

    @property
    def tone_ms(self) -> int: ...

    @property
    def tone_hz(self) -> float: ...

    def process(self, pcm: np.ndarray) -> int: ...


def detector(
    rate: int,
    *,
    low_hz: float = 400.0,
    high_hz: float = 2000.0,
    step_hz: float = 50.0,
    min_ms: int = 150,
    purity: float = 0.6,
    floor_db: float = -45.0,
) -> ToneDetector:
    """A detector of tones between low_hz and high_hz (candidates every step_hz)
    held min_ms or more. purity: the share of a 10 ms block's energy the tone
    must hold (a pure tone: ~1; speech: far less); floor_db: blocks quieter
    than this (dBFS RMS) are never tonal."""
    if not isinstance(rate, int) or rate % 100 or not 4000 <= rate <= 48000:
        raise ValueError(f"rate: expected a multiple of 100 Hz in 4000..48000, got {rate!r}")
    if not 0 < low_hz <= high_hz < rate / 2:
        raise ValueError(f"low_hz..high_hz: expected 0 < {low_hz} <= {high_hz} < {rate / 2}")
    if not step_hz > 0 or (high_hz - low_hz) / step_hz >= 512:
        raise ValueError(f"step_hz: expected > 0 and at most 512 candidates, got {step_hz}")
    if not isinstance(min_ms, int) or not 10 <= min_ms <= 10000:
        raise ValueError(f"min_ms: expected an int in 10..10000, got {min_ms!r}")
    if not 0.0 < purity <= 1.0:
        raise ValueError(f"purity: expected a share in (0, 1], got {purity}")
    det: ToneDetector = _kernel.ToneDetector(
        rate,
        low_hz=low_hz,
        high_hz=high_hz,
        step_hz=step_hz,
        min_ms=min_ms,
        purity=purity,
        floor_db=floor_db,
    )
    return det
