# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Steady-tone detector: Goertzel filters on 10 ms blocks. Reference: _tone_ref.py."""

cimport numpy as cnp
from libc.math cimport cos, floor, pi, pow
from libc.stdlib cimport free, malloc
from libc.stdint cimport int16_t

from native._arrays cimport pcm_array

cnp.import_array()

cdef enum:
    MAX_BINS = 512
MAX_SAMPLES = 1 << 20


cdef class ToneDetector:
    cdef readonly int rate, block_samples, min_blocks
    cdef readonly object frequencies
    cdef readonly long tones, last_end, last_ms
    cdef readonly double last_hz
    cdef int bins, fill, run, peak_bin
    cdef long position
    cdef double purity, min_energy
    cdef double coefs[MAX_BINS]
    cdef double s1[MAX_BINS]
    cdef double s2[MAX_BINS]
    cdef double* block

    def __cinit__(self, int rate, *, double low_hz, double high_hz, double step_hz, int min_ms,
                  double purity, double floor_db):
        cdef int i
        self.rate = rate
        self.block_samples = rate // 100
        self.min_blocks = max(1, -(-min_ms // 10))
        self.bins = <int>floor((high_hz - low_hz) / step_hz + 1e-9) + 1
        if self.bins > MAX_BINS:
            raise ValueError(f"at most {MAX_BINS} frequencies, got {self.bins}")
        self.frequencies = cnp.PyArray_ZEROS(1, [self.bins], cnp.NPY_FLOAT64, 0)
        for i in range(self.bins):
            self.frequencies[i] = low_hz + i * step_hz
            self.coefs[i] = 2.0 * cos(2.0 * pi * (low_hz + i * step_hz) / rate)
        self.purity = purity
        self.min_energy = pow(32768.0 * pow(10.0, floor_db / 20.0), 2) * self.block_samples
        self.block = <double*>malloc(self.block_samples * sizeof(double))
        if self.block == NULL:
            raise MemoryError()
        self.fill = 0
        self.position = 0
        self.run = 0
        self.peak_bin = -1
        self.tones = 0
        self.last_end = -1
        self.last_ms = 0
        self.last_hz = 0.0

    def __dealloc__(self):
        free(self.block)

    @property
    def tone_ms(self):
        """How long the steady tone under way has lasted (0: none)."""
        return self.run * 10

    @property
    def tone_hz(self):
        """The frequency of the tone under way (0.0: none)."""
        return float(self.frequencies[self.peak_bin]) if self.run else 0.0

    def process(self, pcm):
        """Feed int16 samples (any chunk size); returns the tones completed in them."""
        cdef cnp.ndarray arr = pcm_array(pcm, "pcm", MAX_SAMPLES)
        cdef Py_ssize_t i = 0, n = cnp.PyArray_DIM(arr, 0)
        cdef const int16_t* x = <const int16_t*>cnp.PyArray_DATA(arr)
        cdef int completed = 0
        while i < n:
            self.block[self.fill] = x[i]
            self.fill += 1
            self.position += 1
            i += 1
            if self.fill == self.block_samples:
                self.fill = 0
                completed += self.block_done()
        return completed

    cdef int block_done(self):
        cdef int i, k, best = 0, peak = -1
        cdef double energy = 0.0, v, s0, c, power, best_power = -1.0
        cdef int n = self.block_samples
        for i in range(n):
            energy += self.block[i] * self.block[i]
        if energy >= self.min_energy:
            for k in range(self.bins):
                self.s1[k] = 0.0
                self.s2[k] = 0.0
            for i in range(n):
                v = self.block[i]
                for k in range(self.bins):
                    s0 = v + self.coefs[k] * self.s1[k] - self.s2[k]
                    self.s2[k] = self.s1[k]
                    self.s1[k] = s0
            for k in range(self.bins):
                c = self.coefs[k]
                power = (self.s1[k] * self.s1[k] + self.s2[k] * self.s2[k]
                         - c * self.s1[k] * self.s2[k])
                if power > best_power:
                    best_power = power
                    best = k
            if 2.0 * best_power >= self.purity * n * energy:
                peak = best
        if peak >= 0 and (self.run == 0 or abs(peak - self.peak_bin) <= 1):
            self.run += 1
            self.peak_bin = peak
            return 0
        completed = self.end_run()
        if peak >= 0:
            self.run = 1
            self.peak_bin = peak
        return completed

    cdef int end_run(self):
        cdef int completed = 0
        if self.run >= self.min_blocks:
            self.tones += 1
            self.last_end = self.position - self.block_samples
            self.last_ms = self.run * 10
            self.last_hz = self.frequencies[self.peak_bin]
            completed = 1
        self.run = 0
        self.peak_bin = -1
        return completed
