"""Pure-Python/numpy reference for the steady-tone detector (Goertzel).

The stream is cut into blocks of 10 ms. For each block a Goertzel filter per
candidate frequency (low_hz..high_hz every step_hz) gives the power there;
the block is tonal when its strongest candidate holds at least `purity` of
the block's energy (1.0 for a pure tone on a candidate) and the block is
louder than `floor_db`. Tonal blocks in a row whose peak moves by at most
one candidate make a steady tone; one that lasts min_ms or more is counted
when it stops. The compiled kernel (_tone.pyx) runs the same arithmetic.
"""

from __future__ import annotations

import math

import numpy as np

from native._checks import as_pcm

MAX_SAMPLES = 1 << 20  # per process() call


class ToneDetector:
    def __init__(
        self,
        rate: int,
        *,
        low_hz: float,
        high_hz: float,
        step_hz: float,
        min_ms: int,
        purity: float,
        floor_db: float,
    ) -> None:
        self.rate = rate
        self.block_samples = rate // 100
        self.min_blocks = max(1, -(-min_ms // 10))
        count = math.floor((high_hz - low_hz) / step_hz + 1e-9) + 1
        self.frequencies = np.array([low_hz + i * step_hz for i in range(count)], dtype=np.float64)
        self._coefs = np.array(
            [2.0 * math.cos(2.0 * math.pi * f / rate) for f in self.frequencies], dtype=np.float64
        )
        self._purity = purity
        # the energy (sum of squares of the block) of a block at floor_db RMS
        self._min_energy = (32768.0 * 10.0 ** (floor_db / 20.0)) ** 2 * self.block_samples
        self._block = np.zeros(self.block_samples, dtype=np.float64)
        self._fill = 0
        self._position = 0  # samples consumed
        self._run = 0  # tonal blocks in a row
        self._bin = -1  # the peak candidate of the run's last block
        self.tones = 0
        self.last_end = -1
        self.last_ms = 0
        self.last_hz = 0.0

    @property
    def tone_ms(self) -> int:
        """How long the steady tone under way has lasted (0: none)."""
        return self._run * 10

    @property
    def tone_hz(self) -> float:
        """The frequency of the tone under way (0.0: none)."""
        return float(self.frequencies[self._bin]) if self._run else 0.0

    def process(self, pcm: object) -> int:
        """Feed int16 samples (any chunk size); returns the tones completed in them."""
        x = as_pcm(pcm, "pcm", MAX_SAMPLES)
        completed = 0
        i = 0
        n = x.shape[0]
        while i < n:
            take = min(self.block_samples - self._fill, n - i)
            self._block[self._fill : self._fill + take] = x[i : i + take]
            self._fill += take
            i += take
            self._position += take
            if self._fill == self.block_samples:
                self._fill = 0
                completed += self._block_done()
        return completed

    def _block_done(self) -> int:
        block = self._block
        energy = 0.0
        for v in block:
            energy += v * v
        peak = -1
        if energy >= self._min_energy:
            s1 = np.zeros(self._coefs.shape[0])
            s2 = np.zeros(self._coefs.shape[0])
            for v in block:
                s0 = v + self._coefs * s1 - s2
                s2 = s1
                s1 = s0
            power = s1 * s1 + s2 * s2 - self._coefs * s1 * s2
            best = int(np.argmax(power))
            if 2.0 * power[best] >= self._purity * self.block_samples * energy:
                peak = best
        if peak >= 0 and (self._run == 0 or abs(peak - self._bin) <= 1):
            self._run += 1
            self._bin = peak
            return 0
        completed = self._end_run()
        if peak >= 0:  # a new tone starts at another frequency
            self._run, self._bin = 1, peak
        return completed

    def _end_run(self) -> int:
        completed = 0
        if self._run >= self.min_blocks:
            self.tones += 1
            self.last_end = self._position - self.block_samples
            self.last_ms = self._run * 10
            self.last_hz = float(self.frequencies[self._bin])
            completed = 1
        self._run, self._bin = 0, -1
        return completed
