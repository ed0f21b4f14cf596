"""G.711 mu-law (PCMU) and A-law (PCMA) codecs.

enc = g711.encoder("ulaw", frame_samples=160)
payload = enc.encode(pcm_int16)          # -> bytes
dec = g711.decoder("ulaw", frame_samples=160)
pcm = dec.decode(payload)                # -> int16 array, reused per call
"""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np

from native import load_kernel

Law = Literal["ulaw", "alaw"]
LAWS: tuple[Law, ...] = ("ulaw", "alaw")

_kernel = load_kernel("native._g711", "native._g711_ref")


class Encoder(Protocol):
    law: str
    frame_samples: int

    def encode(self, pcm: np.ndarray) -> bytes: ...


class Decoder(Protocol):
    law: str
    frame_samples: int

    def decode(self, payload: bytes) -> np.ndarray: ...


def _check(law: str, frame_samples: int) -> None:
    if law not in LAWS:
        raise ValueError(f"law: expected one of {LAWS}, got {law!r}")
    if not isinstance(frame_samples, int) or not 0 < frame_samples <= 65536:
        raise ValueError(f"frame_samples: expected an int in 1..65536, got {frame_samples!r}")


def encoder(law: Law, frame_samples: int = 160) -> Encoder:
    """An encoder for frames of at most frame_samples int16 samples."""
    _check(law, frame_samples)
    enc: Encoder = _kernel.G711Encoder(law, frame_samples)
    return enc


def decoder(law: Law, frame_samples: int = 160) -> Decoder:
    """A decoder for payloads of at most frame_samples bytes."""
    _check(law, frame_samples)
    dec: Decoder = _kernel.G711Decoder(law, frame_samples)
    return dec
