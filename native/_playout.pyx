# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Outbound playout buffer. Reference: _playout_ref.py.

Every method runs to completion holding the GIL and calls no Python code,
so the event loop may fill it while a foreign real-time thread drains it.
"""

cimport numpy as cnp
from libc.stdint cimport int16_t, int64_t
from libc.string cimport memcpy, memset

from native._arrays cimport pcm_array

cnp.import_array()

cdef enum:
    MARKS = 32


cdef class PlayoutBuffer:
    cdef readonly Py_ssize_t capacity, frame_samples
    cdef cnp.ndarray ring, frame
    cdef int64_t written, read_pos
    cdef int64_t mark_utt[MARKS]
    cdef int64_t mark_start[MARKS]
    cdef int64_t mark_end[MARKS]
    cdef int marks, mark_head

    def __cinit__(self, Py_ssize_t capacity, Py_ssize_t frame_samples):
        self.capacity, self.frame_samples = capacity, frame_samples
        self.ring = cnp.PyArray_ZEROS(1, [capacity], cnp.NPY_INT16, 0)
        self.frame = cnp.PyArray_ZEROS(1, [frame_samples], cnp.NPY_INT16, 0)
        self.written = self.read_pos = 0
        self.marks = self.mark_head = 0

    @property
    def buffered(self):
        return self.written - self.read_pos

    @property
    def free(self):
        return self.capacity - (self.written - self.read_pos)

    def write(self, pcm, long long utterance=0):
        cdef cnp.ndarray arr = pcm_array(pcm, "pcm", 1 << 30)
        cdef Py_ssize_t total = cnp.PyArray_DIM(arr, 0)
        cdef Py_ssize_t n = min(total, self.capacity - (self.written - self.read_pos))
        cdef Py_ssize_t start = self.written % self.capacity
        cdef Py_ssize_t first = min(n, self.capacity - start)
        cdef int16_t* ring = <int16_t*>cnp.PyArray_DATA(self.ring)
        cdef const int16_t* x = <const int16_t*>cnp.PyArray_DATA(arr)
        memcpy(ring + start, x, first * sizeof(int16_t))
        memcpy(ring, x + first, (n - first) * sizeof(int16_t))
        cdef int last = (self.mark_head + MARKS - 1) % MARKS
        if self.marks and self.mark_utt[last] == utterance and self.mark_end[last] == self.written:
            self.mark_end[last] += n
        elif n:
            self.mark_utt[self.mark_head] = utterance
            self.mark_start[self.mark_head] = self.written
            self.mark_end[self.mark_head] = self.written + n
            self.mark_head = (self.mark_head + 1) % MARKS
            self.marks = min(self.marks + 1, MARKS)
        self.written += n
        return n

    def read(self):
        cdef Py_ssize_t n = min(self.frame_samples, self.written - self.read_pos)
        cdef Py_ssize_t start = self.read_pos % self.capacity
        cdef Py_ssize_t first = min(n, self.capacity - start)
        cdef int16_t* ring = <int16_t*>cnp.PyArray_DATA(self.ring)
        cdef int16_t* out = <int16_t*>cnp.PyArray_DATA(self.frame)
        memcpy(out, ring + start, first * sizeof(int16_t))
        memcpy(out + first, ring, (n - first) * sizeof(int16_t))
        memset(out + n, 0, (self.frame_samples - n) * sizeof(int16_t))
        self.read_pos += n
        return self.frame

    def clear(self):
        cdef int64_t dropped = self.written - self.read_pos
        cdef int i
        self.written = self.read_pos
        for i in range(self.marks):
            self.mark_end[i] = min(self.mark_end[i], self.read_pos)
            self.mark_start[i] = min(self.mark_start[i], self.mark_end[i])
        return dropped

    def played(self, long long utterance):
        cdef int64_t total = 0
        cdef int i
        for i in range(self.marks):
            if self.mark_utt[i] == utterance and self.read_pos > self.mark_start[i]:
                total += min(self.read_pos, self.mark_end[i]) - self.mark_start[i]
        return total
