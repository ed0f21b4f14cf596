"""WAV bytes across a process boundary: the rate travels in the header."""

from __future__ import annotations

import numpy as np
import pytest

from mediaserver import wav


def test_a_whole_and_a_streamed_wav_give_back_the_samples_and_their_rate() -> None:
    pcm = (np.arange(1000) - 500).astype(np.int16)
    assert [x.tolist() for x in (wav.decode(wav.encode(pcm, 22050))[0], pcm)] == [pcm.tolist()] * 2
    streamed = wav.header(22050) + pcm.astype("<i2").tobytes()  # sizes unknown: 0xFFFFFFFF
    samples, rate = wav.decode(streamed)
    assert rate == 22050 and samples.tolist() == pcm.tolist()


def test_stereo_is_mixed_down() -> None:
    stereo = np.array([[100, 300], [-100, -300]], np.int16)
    body = stereo.astype("<i2").tobytes()
    samples, rate = wav.decode(wav.header(8000, len(body), channels=2) + body)
    assert rate == 8000 and samples.tolist() == [200, -200]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello world, not audio", "no RIFF"),
        (wav.header(16000)[:12], "no data chunk"),
        (wav.header(16000).replace(b"\x10\x00data", b"\x08\x00data"), "16-bit PCM"),
        (wav.header(0) + b"\x00\x00", "sample rate 0"),
    ],
)
def test_what_is_not_16_bit_pcm_wav_is_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(wav.WavError, match=message):
        wav.decode(data)
