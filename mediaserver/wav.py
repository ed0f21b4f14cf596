"""WAV bytes for audio crossing a process boundary: 16-bit PCM, its rate in
the header. A streamed WAV (sizes unknown when the header went out) says
0xFFFFFFFF, as OpenAI's and most servers' streamed WAVs do."""

from __future__ import annotations

import struct

import numpy as np

STREAMING = 0xFFFFFFFF


class WavError(ValueError):
    """Not 16-bit PCM WAV; the message says what is wrong."""


def header(rate: int, data_bytes: int | None = None, channels: int = 1) -> bytes:
    """A 44-byte header; data_bytes None: a stream of unknown length."""
    size = STREAMING if data_bytes is None else data_bytes
    riff = STREAMING if data_bytes is None else 36 + data_bytes
    block = 2 * channels
    return (
        struct.pack("<4sI4s", b"RIFF", riff, b"WAVE")
        + struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, channels, rate, rate * block, block, 16)
        + struct.pack("<4sI", b"data", size)
    )


def encode(pcm: np.ndarray, rate: int) -> bytes:
    """Mono int16 samples as a whole WAV file."""
    data = np.asarray(pcm, dtype="<i2").tobytes()
    return header(rate, len(data)) + data


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """(mono int16 samples, rate) of a 16-bit PCM WAV, whole or streamed;
    several channels are mixed down."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError("not a WAV file (no RIFF/WAVE header)")
    offset, fmt = 12, None
    while offset + 8 <= len(data):
        chunk, size = struct.unpack_from("<4sI", data, offset)
        offset += 8
        if chunk == b"fmt ":
            if size < 16 or offset + 16 > len(data):
                raise WavError("truncated fmt chunk")
            fmt = struct.unpack_from("<HHIIHH", data, offset)
        elif chunk == b"data":
            if fmt is None:
                raise WavError("data before the fmt chunk")
            end = len(data) if size in (STREAMING, 0) else min(len(data), offset + size)
            return _samples(data[offset:end], fmt)
        offset += size + (size & 1)
    raise WavError("no data chunk")


def _samples(body: bytes, fmt: tuple[int, ...]) -> tuple[np.ndarray, int]:
    kind, channels, rate, _, _, bits = fmt
    if kind not in (1, 0xFFFE) or bits != 16:
        raise WavError(f"expected 16-bit PCM, got format {kind} with {bits}-bit samples")
    if not 1 <= channels <= 8:
        raise WavError(f"{channels} channels")
    if not 1000 <= rate <= 384_000:
        raise WavError(f"sample rate {rate} Hz")
    usable = len(body) // (2 * channels) * 2 * channels
    pcm = np.frombuffer(body[:usable], dtype="<i2").astype(np.int16)
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return pcm, rate
