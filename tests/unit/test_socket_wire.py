"""WireAudio: the peer's audio to and from the call's 16 kHz, over both kernels."""

from __future__ import annotations

import numpy as np
import pytest

from mediaserver.transports.socket_wire import ProtocolError, WireAudio
from native import g711


def tone(rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


@pytest.mark.usefixtures("kernels")
def test_a_large_mulaw_message_decodes_as_its_20_ms_pieces_would() -> None:
    payload = g711.encoder("ulaw", 16000).encode(tone(8000, 2.0))  # 2 s: more than one piece
    whole = np.concatenate([piece.copy() for piece in WireAudio("mulaw", 8000).decode(payload)])
    streamed = WireAudio("mulaw", 8000)
    pieces = [
        piece.copy()
        for i in range(0, len(payload), 160)
        for piece in streamed.decode(payload[i : i + 160])
    ]
    assert whole.size == 32000
    assert np.array_equal(whole, np.concatenate(pieces))


@pytest.mark.usefixtures("kernels")
@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
def test_pcm16_round_trip_keeps_20_ms_frames(rate: int) -> None:
    wire = WireAudio("pcm16", rate)
    frame = wire.encode(tone(16000, 0.02))
    assert len(frame) == rate // 50 * 2
    decoded = np.concatenate([p.copy() for p in wire.decode(frame)])
    assert abs(decoded.size - 320) <= 2


def test_half_a_sample_is_refused() -> None:
    with pytest.raises(ProtocolError) as refused:
        list(WireAudio("pcm16", 16000).decode(b"\x00" * 3))
    assert refused.value.code == 1007
