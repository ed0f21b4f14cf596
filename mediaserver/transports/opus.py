"""libopus through ctypes (Debian's libopus0): decode straight to the
session's 16 kHz mono with real packet-loss concealment, and encode from
it, into buffers allocated once per call.

PyAV's decoder (what aiortc uses) always yields 48 kHz stereo and has no
way to ask for concealment; libopus itself does both."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

import numpy as np

OPUS_APPLICATION_VOIP = 2048
OPUS_SET_BITRATE_REQUEST = 4002
OPUS_SET_COMPLEXITY_REQUEST = 4010
OPUS_SET_INBAND_FEC_REQUEST = 4012
OPUS_SET_PACKET_LOSS_PERC_REQUEST = 4014
MAX_PACKET = 1500


class OpusError(RuntimeError):
    pass


@cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("opus") or "libopus.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise OpusError(f"libopus is not installed (Debian package libopus0): {exc}") from None
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.opus_decode.restype = ctypes.c_int
    lib.opus_decode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int32,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_encoder_create.argtypes = [
        ctypes.c_int32,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.opus_encode.restype = ctypes.c_int32
    lib.opus_encode.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_int32,
    ]
    lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_encoder_ctl.restype = ctypes.c_int
    lib.opus_strerror.restype = ctypes.c_char_p
    lib.opus_strerror.argtypes = [ctypes.c_int]
    return lib


def _check(code: int) -> int:
    if code < 0:
        raise OpusError(_lib().opus_strerror(code).decode())
    return code


class OpusDecoder:
    """Any Opus stream (mono or stereo, any mode) to mono PCM at `rate`."""

    def __init__(self, rate: int = 16000, frame_samples: int = 320) -> None:
        lib = _lib()
        error = ctypes.c_int()
        self._decoder = lib.opus_decoder_create(rate, 1, ctypes.byref(error))
        _check(error.value)
        # up to 120 ms per packet, the most Opus allows
        self._pcm = np.zeros(rate * 120 // 1000, dtype=np.int16)
        self._pointer = self._pcm.ctypes.data
        self.frame_samples = frame_samples

    def decode(self, payload: bytes) -> np.ndarray:
        """One packet's audio (a view of a buffer the next call reuses)."""
        n = _check(
            _lib().opus_decode(
                self._decoder, payload, len(payload), self._pointer, self._pcm.size, 0
            )
        )
        return self._pcm[:n]

    def conceal(self) -> np.ndarray:
        """One frame of concealment for a lost packet (libopus' PLC)."""
        n = _check(_lib().opus_decode(self._decoder, None, 0, self._pointer, self.frame_samples, 0))
        return self._pcm[:n]

    def close(self) -> None:
        if self._decoder:
            _lib().opus_decoder_destroy(self._decoder)
            self._decoder = None

    __del__ = close


class OpusEncoder:
    """Mono PCM at `rate` to Opus packets (VoIP mode)."""

    def __init__(self, rate: int = 16000, bitrate: int = 24000, complexity: int = 5) -> None:
        lib = _lib()
        error = ctypes.c_int()
        self._encoder = lib.opus_encoder_create(rate, 1, OPUS_APPLICATION_VOIP, ctypes.byref(error))
        _check(error.value)
        for request, value in (
            (OPUS_SET_BITRATE_REQUEST, bitrate),
            (OPUS_SET_COMPLEXITY_REQUEST, complexity),
        ):
            encoder = ctypes.c_void_p(self._encoder)
            _check(lib.opus_encoder_ctl(encoder, request, ctypes.c_int(value)))
        self._packet = ctypes.create_string_buffer(MAX_PACKET)

    def encode(self, pcm: np.ndarray) -> bytes:
        """One frame (2.5 to 60 ms of int16 samples) as one packet."""
        n = _check(
            _lib().opus_encode(self._encoder, pcm.ctypes.data, pcm.size, self._packet, MAX_PACKET)
        )
        return self._packet.raw[:n]

    def close(self) -> None:
        if self._encoder:
            _lib().opus_encoder_destroy(self._encoder)
            self._encoder = None

    __del__ = close
