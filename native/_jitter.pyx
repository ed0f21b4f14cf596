# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Adaptive RTP jitter buffer. Reference and commentary: _jitter_ref.py."""

from cpython.list cimport PyList_GET_ITEM, PyList_SET_ITEM
from cpython.ref cimport Py_DECREF, Py_INCREF
from libc.math cimport ceil, fabs, isfinite
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport calloc, free

cdef enum:
    PACKET = 0
    CONCEALED = 1
    SILENT = 2
    EMPTY = 0
    FILLED = 1
    PLAYED = 2
    IDLE_AFTER = 5
    SHRINK_EVERY = 5

cdef tuple SILENT_RESULT = (None, SILENT)
cdef tuple CONCEALED_RESULT = (None, CONCEALED)


cdef inline int64_t signed_delta(int64_t delta, int bits) noexcept:
    cdef int64_t half = (<int64_t>1) << (bits - 1)
    return ((delta + half) & (((<int64_t>1) << bits) - 1)) - half


cdef class JitterBuffer:
    cdef readonly int clock_rate, frame_samples, min_frames, max_frames, capacity
    cdef readonly int64_t received, lost, late, duplicate, concealed, dropped, resets
    cdef int64_t* seqs
    cdef uint8_t* states
    cdef list payloads
    cdef int64_t ssrc, next, highest, ext_ts, last_ts
    cdef double transit, jitter
    cdef bint has_stream, started, played_any
    cdef int underruns, since_shrink

    def __cinit__(self, int clock_rate, int frame_samples, int min_frames, int max_frames,
                  int capacity):
        self.clock_rate, self.frame_samples = clock_rate, frame_samples
        self.min_frames, self.max_frames, self.capacity = min_frames, max_frames, capacity
        self.seqs = <int64_t*>calloc(capacity, sizeof(int64_t))
        self.states = <uint8_t*>calloc(capacity, sizeof(uint8_t))
        if self.seqs == NULL or self.states == NULL:
            raise MemoryError()
        self.payloads = [None] * capacity
        self.ssrc = -1
        self.restart()

    def __dealloc__(self):
        free(self.seqs)
        free(self.states)

    cdef void restart(self):
        cdef int i
        for i in range(self.capacity):
            self.states[i] = EMPTY
            self.set_payload(i, None)
        self.has_stream = self.started = self.played_any = False
        self.next = self.highest = self.ext_ts = self.last_ts = 0
        self.transit = self.jitter = 0.0
        self.underruns = self.since_shrink = 0

    cdef inline int slot_of(self, int64_t ext) noexcept:
        cdef int slot = ext % self.capacity  # C remainder: negative for ext < 0
        return slot + self.capacity if slot < 0 else slot

    cdef inline void set_payload(self, int slot, object payload):
        cdef object old = <object>PyList_GET_ITEM(self.payloads, slot)
        Py_INCREF(payload)
        Py_DECREF(old)
        PyList_SET_ITEM(self.payloads, slot, payload)

    def put(self, seq, timestamp, payload, arrival, ssrc=0):
        if not (type(seq) is int and type(timestamp) is int and type(ssrc) is int
                and (type(arrival) is float or type(arrival) is int)):
            from native._jitter_ref import check_packet
            check_packet(seq, timestamp, arrival, ssrc)
        cdef int64_t s = seq, ts = timestamp, src = ssrc
        cdef double at = arrival
        if not (0 <= s <= 0xFFFF and 0 <= ts <= 0xFFFFFFFF and 0 <= src <= 0xFFFFFFFF
                and isfinite(at)):
            from native._jitter_ref import check_packet
            check_packet(seq, timestamp, arrival, ssrc)
        self.received += 1
        if src != self.ssrc:
            if self.ssrc != -1:
                self.resets += 1
            self.ssrc = src
            self.begin(s, ts, payload, at)
            return
        cdef int64_t ext = self.highest + signed_delta(s - self.highest, 16)
        if ext < self.next - self.capacity or ext > self.highest + self.capacity:
            self.resets += 1
            self.begin(s, ts, payload, at)
            return
        self.ext_ts += signed_delta(ts - self.last_ts, 32)
        self.last_ts = ts
        cdef double transit = at * self.clock_rate - self.ext_ts
        self.jitter += (fabs(transit - self.transit) - self.jitter) / 16.0
        self.transit = transit
        cdef int slot = self.slot_of(ext)
        if self.states[slot] != EMPTY and self.seqs[slot] == ext:
            self.duplicate += 1
        elif ext < self.next:
            if self.played_any:
                self.late += 1
            else:
                self.next = ext
                self.store(ext, payload)
        else:
            if ext >= self.next + self.capacity:
                self.skip_to(ext - self.capacity + 1)
            self.store(ext, payload)
            if ext > self.highest:
                self.highest = ext

    cdef void begin(self, int64_t seq, int64_t ts, object payload, double arrival):
        self.restart()
        self.has_stream = True
        self.highest = self.next = seq
        self.ext_ts = self.last_ts = ts
        self.transit = arrival * self.clock_rate - ts
        self.store(seq, payload)

    cdef inline void store(self, int64_t ext, object payload):
        cdef int slot = self.slot_of(ext)
        self.seqs[slot] = ext
        self.states[slot] = FILLED
        self.set_payload(slot, payload)

    cdef void skip_to(self, int64_t ext):
        cdef int slot
        while self.next < ext:
            slot = self.slot_of(self.next)
            if self.states[slot] == FILLED and self.seqs[slot] == self.next:
                self.dropped += 1
            else:
                self.lost += 1
            self.states[slot] = EMPTY
            self.set_payload(slot, None)
            self.next += 1

    cpdef int target_frames(self):
        cdef int frames = <int>ceil(4.0 * self.jitter / self.frame_samples) + 1
        return min(max(frames, self.min_frames), self.max_frames)

    cpdef int64_t depth(self):
        return self.highest - self.next + 1 if self.has_stream else 0

    def pop(self):
        cdef int64_t depth = self.depth()
        cdef int target = self.target_frames()
        if not self.started:
            if depth <= 0 or depth < target:
                return SILENT_RESULT
            self.started = True
            self.underruns = 0
        cdef int slot = self.slot_of(self.next)
        self.since_shrink += 1
        if self.states[slot] == FILLED and self.seqs[slot] == self.next:
            self.underruns = 0
            if depth > target + 2 and self.since_shrink >= SHRINK_EVERY:
                self.since_shrink = 0
                self.dropped += 1
                self.consume(slot)
                slot = self.slot_of(self.next)
                if not (self.states[slot] == FILLED and self.seqs[slot] == self.next):
                    return self.conceal_missing(slot)
            return (self.consume(slot), PACKET)
        if self.highest >= self.next:
            return self.conceal_missing(slot)
        self.underruns += 1
        if self.underruns >= IDLE_AFTER:
            self.started = False
            return SILENT_RESULT
        self.concealed += 1
        return CONCEALED_RESULT

    cdef tuple conceal_missing(self, int slot):
        self.states[slot] = EMPTY
        self.next += 1
        self.lost += 1
        self.concealed += 1
        return CONCEALED_RESULT

    cdef object consume(self, int slot):
        cdef object payload = <object>PyList_GET_ITEM(self.payloads, slot)
        self.set_payload(slot, None)
        self.states[slot] = PLAYED
        self.next += 1
        self.played_any = True
        return payload

    def delay_frames(self):
        return self.depth() if self.started else 0

    def jitter_samples(self):
        return self.jitter
