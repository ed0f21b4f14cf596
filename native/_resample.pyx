# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Streaming polyphase FIR resampler. Reference: _resample_ref.py.

The filter table comes from native/resample.py; this kernel only runs it.
Output n is computed as soon as the input sample it ends on has arrived,
so every input frame yields output and a stream chunked any way gives
exactly the samples of one call over the whole signal.
"""

cimport numpy as cnp
from libc.math cimport isfinite
from libc.stdint cimport int16_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove, memset

from native._arrays cimport pcm_array

cnp.import_array()

cdef extern from "_polyphase.h" nogil:
    ctypedef struct ms_polyphase:
        const float* table
        int taps, up, down_whole, down_frac
    Py_ssize_t ms_polyphase_run(const ms_polyphase* p, const float* buf, Py_ssize_t end,
                                Py_ssize_t* pos, int* phase, float* out_f, int16_t* out_i)

cdef enum:
    LANES = 8  # the table's rows are padded to a multiple of this


cdef class Resampler:
    cdef readonly int in_rate, out_rate
    cdef int up, down, taps, down_whole, down_frac
    cdef float* table
    cdef float* buf
    cdef Py_ssize_t capacity      # samples of buf after the history
    cdef Py_ssize_t pos           # index in buf of the newest input of the next output
    cdef int phase
    cdef cnp.ndarray out_i16, out_f32

    def __cinit__(self, int in_rate, int out_rate, int up, int down, table not None):
        cdef cnp.ndarray t = cnp.PyArray_FROMANY(
            table, cnp.NPY_FLOAT32, 2, 2, cnp.NPY_ARRAY_C_CONTIGUOUS)
        if cnp.PyArray_DIM(t, 0) != up or cnp.PyArray_DIM(t, 1) % LANES:
            raise ValueError("table: expected shape (up, multiple of 8)")
        self.in_rate, self.out_rate = in_rate, out_rate
        self.up, self.down = up, down
        self.taps = cnp.PyArray_DIM(t, 1)
        self.down_whole, self.down_frac = down // up, down % up
        self.table = <float*>malloc(up * self.taps * sizeof(float))
        self.buf = <float*>malloc((self.taps - 1) * sizeof(float))
        if self.table == NULL or self.buf == NULL:
            raise MemoryError()
        memcpy(self.table, cnp.PyArray_DATA(t), up * self.taps * sizeof(float))
        self.out_i16 = cnp.PyArray_ZEROS(1, [0], cnp.NPY_INT16, 0)
        self.out_f32 = cnp.PyArray_ZEROS(1, [0], cnp.NPY_FLOAT32, 0)
        self.reset()

    def __dealloc__(self):
        free(self.table)
        free(self.buf)

    def reset(self):
        """Forget the stream: the next sample starts from silence."""
        memset(self.buf, 0, (self.taps - 1) * sizeof(float))
        self.capacity = 0
        self.pos = self.taps - 1
        self.phase = 0

    cdef int reserve(self, Py_ssize_t n) except -1:
        cdef Py_ssize_t outs = (n * self.up) // self.down + 2
        cdef float* grown
        if n > self.capacity:
            grown = <float*>realloc(self.buf, (self.taps - 1 + n) * sizeof(float))
            if grown == NULL:
                raise MemoryError()
            self.buf = grown
            self.capacity = n
            self.out_i16 = cnp.PyArray_ZEROS(1, [outs], cnp.NPY_INT16, 0)
            self.out_f32 = cnp.PyArray_ZEROS(1, [outs], cnp.NPY_FLOAT32, 0)
        return 0

    def process(self, samples):
        """Resample one chunk of int16 or float32 samples (1-D, any length).

        Returns an array of the same dtype owned by the resampler and reused
        by the next call: copy it to keep it.
        """
        cdef cnp.ndarray arr
        cdef bint is_float = (type(samples) is cnp.ndarray
                              and cnp.PyArray_TYPE(<cnp.ndarray>samples) == cnp.NPY_FLOAT32)
        arr = pcm_array(samples, "samples", 1 << 24, cnp.NPY_FLOAT32 if is_float else cnp.NPY_INT16)
        cdef Py_ssize_t i, n = cnp.PyArray_DIM(arr, 0)
        cdef const int16_t* xi
        cdef const float* xf
        self.reserve(n)
        cdef float* dst = self.buf + self.taps - 1
        if is_float:
            xf = <const float*>cnp.PyArray_DATA(arr)
            for i in range(n):
                if not isfinite(xf[i]):
                    raise ValueError(f"samples: non-finite value at index {i}")
            memcpy(dst, xf, n * sizeof(float))
        else:
            xi = <const int16_t*>cnp.PyArray_DATA(arr)
            for i in range(n):
                dst[i] = xi[i]
        cdef Py_ssize_t produced = self.run(n, is_float)
        out = self.out_f32 if is_float else self.out_i16
        return out[:produced]

    cdef Py_ssize_t run(self, Py_ssize_t n, bint is_float):
        cdef ms_polyphase p
        p.table, p.taps, p.up = self.table, self.taps, self.up
        p.down_whole, p.down_frac = self.down_whole, self.down_frac
        cdef Py_ssize_t count, pos = self.pos
        cdef int phase = self.phase
        cdef float* out_f = <float*>cnp.PyArray_DATA(self.out_f32) if is_float else NULL
        cdef int16_t* out_i = <int16_t*>cnp.PyArray_DATA(self.out_i16)
        with nogil:
            count = ms_polyphase_run(&p, self.buf, self.taps - 1 + n, &pos, &phase, out_f, out_i)
            memmove(self.buf, self.buf + n, (self.taps - 1) * sizeof(float))
        self.pos = pos - n
        self.phase = phase
        return count
