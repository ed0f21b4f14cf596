"""The steady-tone (beep) detector, over the Cython kernel and the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from native import g711, resample, tone
from tests.speech import speak

RATE = 16000


def tone_clip(
    hz: float,
    ms: int,
    *,
    rate: int = RATE,
    before_ms: int = 300,
    after_ms: int = 300,
    amplitude: float = 8000.0,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    t = np.arange(rate * ms // 1000) / rate
    x = np.concatenate(
        [
            np.zeros(rate * before_ms // 1000),
            amplitude * np.sin(2 * np.pi * hz * t + 0.3),
            np.zeros(rate * after_ms // 1000),
        ]
    )
    x += np.random.default_rng(seed).normal(0.0, noise, x.size) if noise else 0.0
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("hz", [400, 440, 620, 1000, 1234, 1400, 1800, 1975, 2000])
@pytest.mark.parametrize("ms", [160, 300, 1000])
def test_a_steady_tone_in_the_band_is_found_with_its_frequency_and_length(
    kernels: str, hz: float, ms: int
) -> None:
    det = tone.detector(RATE)
    assert det.process(tone_clip(hz, ms)) == 1
    assert det.tones == 1 and det.tone_ms == 0
    assert abs(det.last_hz - hz) <= 25
    assert ms - 20 <= det.last_ms <= ms
    tone_end = RATE * (300 + ms) // 1000
    assert tone_end - det.block_samples <= det.last_end <= tone_end


@pytest.mark.parametrize(("hz", "ms"), [(1000, 100), (1000, 130), (250, 500), (3000, 500)])
def test_short_tones_and_tones_out_of_the_band_are_not_beeps(
    kernels: str, hz: float, ms: int
) -> None:
    det = tone.detector(RATE)
    assert det.process(tone_clip(hz, ms)) == 0
    assert det.tones == 0 and det.last_end == -1


@pytest.mark.parametrize("snr_db", [30, 15, 10])
def test_a_tone_is_found_in_noise(kernels: str, snr_db: float) -> None:
    amplitude = 6000.0
    noise = amplitude / np.sqrt(2) / 10 ** (snr_db / 20)
    det = tone.detector(RATE)
    det.process(tone_clip(1000, 400, amplitude=amplitude, noise=noise))
    assert det.tones == 1 and abs(det.last_hz - 1000) <= 25


def test_noise_silence_and_quiet_tones_are_not_tones(kernels: str) -> None:
    det = tone.detector(RATE)
    det.process(np.random.default_rng(3).normal(0, 4000, RATE * 3).astype(np.int16))
    det.process(np.zeros(RATE, np.int16))
    det.process(tone_clip(1000, 500, amplitude=100.0))  # -50 dBFS: under the floor
    assert det.tones == 0


def test_speech_is_not_a_tone(kernels: str, tmp_path: Path) -> None:
    pcm, rate = speak(
        "Hello, you have reached Maria. Please leave a message after the tone. "
        "Ooooh, aaaah, mmmm, hellooooo?",
        tmp_path / "speech.wav",
    )
    pcm = resample.resampler(rate, RATE).process(pcm).copy()
    det = tone.detector(RATE)
    det.process(pcm)
    assert det.tones == 0 and det.tone_ms == 0


def test_a_tone_under_way_is_reported_before_it_ends(kernels: str) -> None:
    det = tone.detector(RATE)
    clip = tone_clip(800, 1000, after_ms=0)
    det.process(clip[: RATE * 800 // 1000])
    assert det.tones == 0 and 450 <= det.tone_ms <= 500 and det.tone_hz == 800.0
    det.process(clip[RATE * 800 // 1000 :])
    det.process(np.zeros(320, np.int16))
    assert det.tones == 1 and det.tone_ms == 0 and det.tone_hz == 0.0


def test_two_beeps_at_different_frequencies_are_two_tones(kernels: str) -> None:
    det = tone.detector(RATE)
    clip = np.concatenate([tone_clip(950, 300, after_ms=0), tone_clip(1400, 300, before_ms=0)])
    assert det.process(clip) == 2
    assert det.last_hz == 1400.0


@pytest.mark.parametrize("law", g711.LAWS)
def test_a_beep_through_a_phone_line_is_found_at_8_khz_and_after_upsampling(
    kernels: str, law: g711.Law
) -> None:
    narrow = tone_clip(1000, 200, rate=8000)
    enc, dec = g711.encoder(law, narrow.size), g711.decoder(law, narrow.size)
    line = dec.decode(enc.encode(narrow)).copy()
    det8 = tone.detector(8000)
    det8.process(line)
    det16 = tone.detector(RATE)
    det16.process(resample.resampler(8000, RATE).process(line).copy())
    assert det8.tones == det16.tones == 1
    assert det8.last_hz == det16.last_hz == 1000.0


@given(st.lists(st.integers(1, 700), min_size=1, max_size=40))
def test_streamed_in_any_chunks_equals_one_shot(kernels: str, sizes: list[int]) -> None:
    clip = np.concatenate(
        [tone_clip(700, 200, after_ms=50, noise=500), tone_clip(1500, 170, noise=500, seed=2)]
    )
    whole = tone.detector(RATE)
    whole.process(clip)
    streamed = tone.detector(RATE)
    offset, completed = 0, 0
    for size in sizes * (clip.size // sum(sizes) + 1):
        completed += streamed.process(clip[offset : offset + size])
        offset += size
        if offset >= clip.size:
            break
    assert completed == whole.tones == 2
    state = ("tones", "last_end", "last_ms", "last_hz", "tone_ms", "tone_hz")
    assert [getattr(streamed, k) for k in state] == [getattr(whole, k) for k in state]


def test_the_kernel_and_the_reference_agree_on_noise_with_tones() -> None:
    from native import _tone, _tone_ref

    rng = np.random.default_rng(7)
    clip = (rng.normal(0, 2000, RATE * 4) + 3000 * np.sin(np.arange(RATE * 4) * 0.3)).astype(
        np.int16
    )
    clip[RATE : RATE * 2] = tone_clip(1100, 1000, before_ms=0, after_ms=0, noise=900)
    args = {"low_hz": 400.0, "high_hz": 2000.0, "step_hz": 50.0, "min_ms": 150}
    args |= {"purity": 0.6, "floor_db": -45.0}
    compiled = _tone.ToneDetector(RATE, **args)
    reference = _tone_ref.ToneDetector(RATE, **args)
    for start in range(0, clip.size, 320):
        assert compiled.process(clip[start : start + 320]) == reference.process(
            clip[start : start + 320]
        )
        assert (compiled.tone_ms, compiled.tones) == (reference.tone_ms, reference.tones)


@pytest.mark.parametrize(
    ("pcm", "error", "message"),
    [
        (np.zeros(160, np.float32), TypeError, "pcm: expected dtype int16"),
        ([0] * 160, TypeError, "pcm: expected a numpy"),
        (np.zeros((2, 80), np.int16), ValueError, "pcm: expected a 1-D array"),
        (np.zeros(320, np.int16)[::2], ValueError, "pcm: array must be C-contiguous"),
    ],
)
def test_bad_frames_are_refused(kernels: str, pcm: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        tone.detector(RATE).process(pcm)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 16001}, "rate"),
        ({"rate": RATE, "low_hz": 2000.0, "high_hz": 400.0}, "low_hz"),
        ({"rate": 8000, "high_hz": 5000.0}, "low_hz"),
        ({"rate": RATE, "step_hz": 0.0}, "step_hz"),
        ({"rate": RATE, "min_ms": 0}, "min_ms"),
        ({"rate": RATE, "purity": 1.5}, "purity"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tone.detector(**kwargs)  # type: ignore[arg-type]
