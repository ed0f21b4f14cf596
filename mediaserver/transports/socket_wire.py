"""The wire side of a WebSocket call: close codes, the protocol error that
closes a socket, and the peer's audio to and from the call's 16 kHz (the
native G.711 codec and resampler, allocated once per call)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from mediaserver.transports.call import RATE
from native import g711, resample

Encoding = Literal["pcm16", "mulaw"]
NORMAL, GOING_AWAY, UNSUPPORTED, INVALID, POLICY, TOO_BIG, TRY_LATER = (
    1000,
    1001,
    1003,
    1007,
    1008,
    1009,
    1013,
)


class ProtocolError(Exception):
    """The peer broke the protocol: close with `code` and this message as the reason."""

    def __init__(self, code: int, reason: str, end_reason: str = "protocol_error") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:120]  # a close frame's reason is at most 123 bytes
        self.end_reason = end_reason


def json_object(text: str) -> dict[str, Any]:
    """A text message as the JSON object both protocols send; ProtocolError otherwise."""
    try:
        message = json.loads(text)
    except ValueError:
        raise ProtocolError(INVALID, "not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError(INVALID, "expected a JSON object")
    return message


class WireAudio:
    """The peer's audio (µ-law or 16-bit PCM at its rate) to and from the call's 16 kHz."""

    def __init__(self, encoding: Encoding, rate: int) -> None:
        self.encoding = encoding
        self.rate = rate
        self._to_call = resample.resampler(rate, RATE)
        self._to_peer = resample.resampler(RATE, rate)
        self._decoder = g711.decoder("ulaw", 8192) if encoding == "mulaw" else None
        self._encoder = g711.encoder("ulaw", rate // 50 + 32) if encoding == "mulaw" else None

    def decode(self, payload: bytes) -> Iterator[np.ndarray]:
        """The call's 16 kHz samples in `payload`, a piece at a time (each array is
        the kernels' own, reused for the next piece: use it before asking for more)."""
        if self._decoder is None:
            if len(payload) % 2:
                raise ProtocolError(INVALID, f"{len(payload)} bytes: not whole 16-bit samples")
            yield self._to_call.process(np.frombuffer(payload, dtype="<i2"))
            return
        step = self._decoder.frame_samples
        for i in range(0, len(payload), step):
            yield self._to_call.process(self._decoder.decode(payload[i : i + step]))

    def encode(self, frame: np.ndarray) -> bytes:
        """One 20 ms frame of the call's audio for the peer."""
        out = self._to_peer.process(frame)
        if self._encoder is None:
            return out.astype("<i2", copy=False).tobytes()
        return self._encoder.encode(out)
