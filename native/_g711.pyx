# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""G.711 mu-law and A-law, table driven. Reference: _g711_ref.py."""

cimport numpy as cnp
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int16_t, uint8_t

from native._arrays cimport copy_bytes, pcm_array

cnp.import_array()

cdef uint8_t ULAW_ENCODE[65536]
cdef uint8_t ALAW_ENCODE[65536]
cdef int16_t ULAW_DECODE[256]
cdef int16_t ALAW_DECODE[256]

cdef int SEG_UEND[8]
cdef int SEG_AEND[8]
SEG_UEND[:] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]
SEG_AEND[:] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]


cdef int segment(int value, int* ends):
    cdef int i
    for i in range(8):
        if value <= ends[i]:
            return i
    return 8


cdef uint8_t linear_to_ulaw(int sample):
    cdef int pcm = sample >> 2
    cdef int mask = 0xFF
    cdef int seg
    if pcm < 0:
        pcm = -pcm
        mask = 0x7F
    if pcm > 8159:
        pcm = 8159
    pcm += 0x84 >> 2
    seg = segment(pcm, SEG_UEND)
    if seg >= 8:
        return <uint8_t>(0x7F ^ mask)
    return <uint8_t>(((seg << 4) | ((pcm >> (seg + 1)) & 0xF)) ^ mask)


cdef uint8_t linear_to_alaw(int sample):
    cdef int pcm = sample >> 3
    cdef int mask = 0xD5
    cdef int seg, code
    if pcm < 0:
        mask = 0x55
        pcm = -pcm - 1
    seg = segment(pcm, SEG_AEND)
    if seg >= 8:
        return <uint8_t>(0x7F ^ mask)
    code = seg << 4
    code |= ((pcm >> 1) if seg < 2 else (pcm >> seg)) & 0xF
    return <uint8_t>(code ^ mask)


cdef int16_t ulaw_to_linear(int code):
    cdef int u = ~code & 0xFF
    cdef int t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return <int16_t>((0x84 - t) if u & 0x80 else (t - 0x84))


cdef int16_t alaw_to_linear(int code):
    cdef int a = code ^ 0x55
    cdef int seg = (a & 0x70) >> 4
    cdef int t = (a & 0x0F) << 4
    if seg == 0:
        t += 8
    else:
        t += 0x108
        if seg > 1:
            t <<= seg - 1
    return <int16_t>(t if a & 0x80 else -t)


cdef void build_tables():
    cdef int i
    for i in range(65536):
        ULAW_ENCODE[i] = linear_to_ulaw(i - 32768)
        ALAW_ENCODE[i] = linear_to_alaw(i - 32768)
    for i in range(256):
        ULAW_DECODE[i] = ulaw_to_linear(i)
        ALAW_DECODE[i] = alaw_to_linear(i)


build_tables()


cdef class G711Encoder:
    """Encodes int16 PCM frames to G.711 payload bytes."""

    cdef readonly str law
    cdef readonly Py_ssize_t frame_samples
    cdef const uint8_t* table

    def __cinit__(self, str law, Py_ssize_t frame_samples):
        self.law = law
        self.frame_samples = frame_samples
        self.table = &ULAW_ENCODE[0] if law == "ulaw" else &ALAW_ENCODE[0]

    def encode(self, pcm):
        cdef cnp.ndarray arr = pcm_array(pcm, "pcm", self.frame_samples)
        cdef Py_ssize_t i, n = cnp.PyArray_DIM(arr, 0)
        cdef const int16_t* x = <const int16_t*>cnp.PyArray_DATA(arr)
        cdef bytes out = PyBytes_FromStringAndSize(NULL, n)
        cdef uint8_t* y = <uint8_t*>PyBytes_AS_STRING(out)
        cdef const uint8_t* table = self.table  # a local: y may alias self
        for i in range(n):
            y[i] = table[<int>x[i] + 32768]
        return out


cdef class G711Decoder:
    """Decodes G.711 payloads into one int16 buffer owned by the decoder.

    The returned array is reused by the next call: copy it to keep it.
    """

    cdef readonly str law
    cdef readonly Py_ssize_t frame_samples
    cdef const int16_t* table
    cdef cnp.ndarray out
    cdef uint8_t[::1] codes

    def __cinit__(self, str law, Py_ssize_t frame_samples):
        self.law = law
        self.frame_samples = frame_samples
        self.table = &ULAW_DECODE[0] if law == "ulaw" else &ALAW_DECODE[0]
        self.out = cnp.PyArray_ZEROS(1, [frame_samples], cnp.NPY_INT16, 0)
        self.codes = bytearray(frame_samples)

    def decode(self, payload):
        cdef uint8_t* codes = &self.codes[0]
        cdef Py_ssize_t i, n = copy_bytes(payload, "payload", codes, self.frame_samples)
        cdef int16_t* y = <int16_t*>cnp.PyArray_DATA(self.out)
        cdef const int16_t* table = self.table
        for i in range(n):
            y[i] = table[codes[i]]
        if n == self.frame_samples:
            return self.out
        return self.out[:n]
