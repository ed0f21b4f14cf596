"""Pure-Python/numpy reference for G.711 (ITU-T G.711 mu-law and A-law).

The compiled kernel in _g711.pyx must produce exactly the same codes and
samples; tests run over both and against the standard library's audioop.
"""

from __future__ import annotations

import numpy as np

from native._checks import as_codes, as_pcm

_ULAW_BIAS = 0x84 >> 2
_ULAW_CLIP = 8159


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2  # 14-bit range
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _ULAW_CLIP) + _ULAW_BIAS
    seg = np.searchsorted(np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]), mag)
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> (seg + 1)) & 0xF))
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3  # 13-bit range
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]), mag)
    quant = np.where(seg < 2, mag >> 1, mag >> np.maximum(seg, 1)) & 0xF
    code = np.where(seg >= 8, 0x7F, (seg << 4) | quant)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ENCODE = {"ulaw": _ulaw_encode_table(), "alaw": _alaw_encode_table()}
_DECODE = {"ulaw": _ulaw_decode_table(), "alaw": _alaw_decode_table()}


class G711Encoder:
    """Encodes int16 PCM frames to G.711 payload bytes."""

    def __init__(self, law: str, frame_samples: int) -> None:
        self.law = law
        self.frame_samples = frame_samples
        self._table = _ENCODE[law]
        self._index = np.empty(frame_samples, dtype=np.intp)

    def encode(self, pcm: object) -> bytes:
        x = as_pcm(pcm, "pcm", self.frame_samples)
        index = self._index[: x.shape[0]]
        np.add(x, np.intp(32768), out=index)
        return self._table[index].tobytes()


class G711Decoder:
    """Decodes G.711 payloads into one int16 buffer owned by the decoder.

    The returned array is reused by the next call: copy it to keep it.
    """

    def __init__(self, law: str, frame_samples: int) -> None:
        self.law = law
        self.frame_samples = frame_samples
        self._table = _DECODE[law]
        self._out = np.zeros(frame_samples, dtype=np.int16)

    def decode(self, payload: object) -> np.ndarray:
        codes = as_codes(payload, "payload", self.frame_samples)
        out = self._out[: codes.shape[0]]
        np.take(self._table, codes, out=out)
        return out
