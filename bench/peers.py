"""The libraries our kernels are measured against, behind one small shape.

A resampler peer is made per stream: make(in_rate, out_rate) returns a
function taking one chunk (int16 or float32, as `dtype` says) and returning
the samples it produced for it (possibly none: some libraries hold back).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from native import resample

Chunk = Callable[[np.ndarray], np.ndarray]

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # on 3.11 only; a peer here, never used by the server


@dataclass(frozen=True)
class ResamplerPeer:
    impl: str
    dtype: type
    make: Callable[[int, int], Chunk]


def _ours(in_rate: int, out_rate: int) -> Chunk:
    rs = resample.resampler(in_rate, out_rate)
    return lambda x: rs.process(x).copy()  # the kernel reuses its output buffer


def _soxr(quality: str) -> Callable[[int, int], Chunk]:
    def make(in_rate: int, out_rate: int) -> Chunk:
        import soxr

        stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=quality)
        chunk: Chunk = stream.resample_chunk
        return chunk

    return make


def _samplerate(converter: str) -> Callable[[int, int], Chunk]:
    def make(in_rate: int, out_rate: int) -> Chunk:
        import samplerate

        r = samplerate.Resampler(converter, channels=1)
        ratio = out_rate / in_rate
        return lambda x: r.process(x, ratio, end_of_input=False)

    return make


def _pyav(in_rate: int, out_rate: int) -> Chunk:
    import av

    r = av.AudioResampler(format="s16", layout="mono", rate=out_rate)

    def chunk(x: np.ndarray) -> np.ndarray:
        frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = in_rate
        out = [f.to_ndarray().reshape(-1) for f in r.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, np.int16)

    return chunk


def _scipy(in_rate: int, out_rate: int) -> Chunk:
    from scipy.signal import resample_poly

    up, down = resample.ratio(in_rate, out_rate)
    return lambda x: resample_poly(x, up, down).astype(np.float32)  # stateless: per chunk


def _ratecv(in_rate: int, out_rate: int) -> Chunk:
    state = None

    def chunk(x: np.ndarray) -> np.ndarray:
        nonlocal state
        out, state = audioop.ratecv(x.tobytes(), 2, 1, in_rate, out_rate, state)
        return np.frombuffer(out, dtype=np.int16)

    return chunk


RESAMPLERS = [
    ResamplerPeer("mediaserver", np.int16, _ours),
    ResamplerPeer("soxr-stream-hq", np.float32, _soxr("HQ")),
    ResamplerPeer("soxr-stream-qq", np.float32, _soxr("QQ")),
    ResamplerPeer("samplerate-sinc-best", np.float32, _samplerate("sinc_best")),
    ResamplerPeer("samplerate-sinc-fastest", np.float32, _samplerate("sinc_fastest")),
    ResamplerPeer("pyav-swr", np.int16, _pyav),
    ResamplerPeer("scipy-resample-poly", np.float32, _scipy),
    ResamplerPeer("audioop-ratecv", np.int16, _ratecv),
]


def ulaw_encode(x: np.ndarray) -> bytes:
    return audioop.lin2ulaw(x.tobytes(), 2)


def ulaw_decode(payload: bytes) -> bytes:
    return audioop.ulaw2lin(payload, 2)


def alaw_encode(x: np.ndarray) -> bytes:
    return audioop.lin2alaw(x.tobytes(), 2)


def alaw_decode(payload: bytes) -> bytes:
    return audioop.alaw2lin(payload, 2)
