import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from native import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the standard library's G.711, on 3.11 only: tests compare with it

ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))
AUDIOOP = {
    "ulaw": (audioop.lin2ulaw, audioop.ulaw2lin),
    "alaw": (audioop.lin2alaw, audioop.alaw2lin),
}


@pytest.mark.parametrize("law", g711.LAWS)
def test_encode_is_bit_exact_over_every_input(kernels: str, law: g711.Law) -> None:
    encode, _ = AUDIOOP[law]
    enc = g711.encoder(law, frame_samples=ALL_PCM.size)
    assert enc.encode(ALL_PCM) == encode(ALL_PCM.tobytes(), 2)


@pytest.mark.parametrize("law", g711.LAWS)
def test_decode_is_bit_exact_over_every_code(kernels: str, law: g711.Law) -> None:
    _, decode = AUDIOOP[law]
    dec = g711.decoder(law, frame_samples=256)
    assert dec.decode(ALL_CODES).tobytes() == decode(ALL_CODES, 2)


@pytest.mark.parametrize("law", g711.LAWS)
def test_round_trip_error_is_within_the_segment_step(kernels: str, law: g711.Law) -> None:
    enc, dec = g711.encoder(law, 65536), g711.decoder(law, 65536)
    back = dec.decode(enc.encode(ALL_PCM)).astype(np.int32)
    error = np.abs(back - ALL_PCM)
    assert error.max() <= 1024  # the top segment's step is 1024 (A-law) / 1024 (mu-law)
    small = np.abs(ALL_PCM.astype(np.int32)) < 64
    assert error[small].max() <= 8


@given(arrays(np.int16, st.integers(0, 160)))
@pytest.mark.parametrize("law", g711.LAWS)
def test_any_frame_up_to_the_size_encodes(law: g711.Law, pcm: np.ndarray) -> None:
    encode, _ = AUDIOOP[law]
    assert g711.encoder(law).encode(pcm) == encode(pcm.tobytes(), 2)


def test_decoder_accepts_bytes_like_payloads(kernels: str) -> None:
    dec = g711.decoder("ulaw", 4)
    expected = dec.decode(b"\x00\x7f\x80\xff").copy()
    for payload in (bytearray(b"\x00\x7f\x80\xff"), memoryview(b"\x00\x7f\x80\xff")):
        assert np.array_equal(dec.decode(payload), expected)
    assert dec.decode(b"").size == 0


@pytest.mark.parametrize(
    ("pcm", "error", "message"),
    [
        (np.zeros(160, np.float32), TypeError, "pcm: expected dtype int16"),
        (np.zeros(160, np.int32), TypeError, "pcm: expected dtype int16"),
        ([0] * 160, TypeError, "pcm: expected a numpy"),
        (np.zeros((2, 80), np.int16), ValueError, "pcm: expected a 1-D array"),
        (np.zeros(320, np.int16)[::2], ValueError, "pcm: array must be C-contiguous"),
        (np.zeros(161, np.int16), ValueError, "pcm: 161 samples, at most 160"),
    ],
)
def test_encoder_rejects_bad_frames(kernels: str, pcm: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        g711.encoder("ulaw").encode(pcm)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        (bytes(161), ValueError, "payload: 161 bytes, at most 160"),
        ("abc", TypeError, "payload: expected bytes"),
        (None, TypeError, "payload: expected bytes"),
        (np.zeros(10, np.int16), TypeError, "payload: expected bytes or a contiguous 1-D uint8"),
    ],
)
def test_decoder_rejects_bad_payloads(
    kernels: str, payload: object, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        g711.decoder("alaw").decode(payload)  # type: ignore[arg-type]


@pytest.mark.parametrize(("law", "frame_samples"), [("mulaw", 160), ("ulaw", 0), ("alaw", -1)])
def test_factories_reject_bad_settings(law: str, frame_samples: int) -> None:
    with pytest.raises(ValueError, match=r"law|frame_samples"):
        g711.encoder(law, frame_samples)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"law|frame_samples"):
        g711.decoder(law, frame_samples)  # type: ignore[arg-type]
