import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.audio_metrics import passband_deviation_db, rejection_db, tone, tone_amplitude
from native import _resample_filter, resample

PAIRS = [(a, b) for a, b in itertools.permutations(resample.RATES, 2)]
SOME_PAIRS = [
    (44100, 16000),
    (8000, 16000),
    (16000, 8000),
    (22050, 16000),
    (48000, 16000),
    (16000, 48000),
    (24000, 22050),
]


def one_shot(in_rate: int, out_rate: int, x: np.ndarray) -> np.ndarray:
    return resample.resampler(in_rate, out_rate).process(x).copy()


def streamed(in_rate: int, out_rate: int, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    rs = resample.resampler(in_rate, out_rate)
    out, i = [], 0
    for size in itertools.cycle(sizes):
        if i >= x.size:
            break
        out.append(rs.process(x[i : i + size]).copy())
        i += size
    return np.concatenate(out)


def noise(rate: int, seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(rate * seconds)) * 4000).astype(np.int16)


@pytest.mark.parametrize(("in_rate", "out_rate"), SOME_PAIRS)
@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 1500), min_size=1, max_size=8))
def test_streamed_output_equals_one_shot_for_every_chunking(
    kernels: str, in_rate: int, out_rate: int, sizes: list[int]
) -> None:
    x = noise(in_rate, 0.25)
    assert np.array_equal(streamed(in_rate, out_rate, x, sizes), one_shot(in_rate, out_rate, x))


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_every_20ms_frame_yields_exactly_20ms(kernels: str, in_rate: int, out_rate: int) -> None:
    rs = resample.resampler(in_rate, out_rate)
    x = noise(in_rate, 0.2)
    frame = in_rate // 50
    counts = {rs.process(x[i : i + frame]).size for i in range(0, x.size, frame)}
    assert counts == {out_rate // 50}


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_added_delay_is_the_group_delay_and_at_most_2ms(
    kernels: str, in_rate: int, out_rate: int
) -> None:
    delay = resample.delay_seconds(in_rate, out_rate)
    assert 0 < delay <= 0.002
    freq = 100.0  # a period (10 ms) well over the delay: no phase ambiguity
    y = one_shot(in_rate, out_rate, tone(freq, in_rate)).astype(np.float64)
    # y(t) = A sin(2 pi f (t - delay)): fit the phase and read the delay off it.
    y = y[out_rate // 20 : -out_rate // 20]
    t = (np.arange(y.size) + out_rate // 20) / out_rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    (a, b), *_ = np.linalg.lstsq(basis, y, rcond=None)
    measured = -np.arctan2(b, a) / (2 * np.pi * freq)
    assert measured == pytest.approx(delay, abs=0.05 / out_rate + 1e-6)


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_designed_filter_meets_the_spec(in_rate: int, out_rate: int) -> None:
    up, _ = resample.ratio(in_rate, out_rate)
    taps = resample.filter_taps(in_rate, out_rate) / up
    low = min(in_rate, out_rate)
    response = np.abs(np.fft.rfft(taps, 1 << 19))
    freqs = np.fft.rfftfreq(1 << 19, 1.0 / (up * in_rate))
    db = 20 * np.log10(np.maximum(response, 1e-15))
    assert np.abs(db[freqs <= 0.85 * low / 2]).max() <= 0.1
    assert db[freqs >= low - 0.85 * low / 2].max() <= -80


@pytest.mark.parametrize(("in_rate", "out_rate"), SOME_PAIRS)
def test_measured_rejection_and_passband(kernels: str, in_rate: int, out_rate: int) -> None:
    def run(x: np.ndarray) -> np.ndarray:
        return resample.resampler(in_rate, out_rate).process(x).copy()

    assert rejection_db(run, in_rate, out_rate) >= 80
    assert passband_deviation_db(run, in_rate, out_rate) <= 0.1


def test_int16_output_clips_instead_of_wrapping(kernels: str) -> None:
    square = np.tile(np.r_[np.full(8, 32767), np.full(8, -32768)].astype(np.int16), 200)
    y = one_shot(8000, 48000, square)
    assert y.max() == 32767 and y.min() == -32768
    assert np.count_nonzero(np.diff(y.astype(np.int32)) > 60000) == 0  # no wrap-around jumps


def test_compiled_and_reference_agree_within_one_step() -> None:
    from native import _resample, _resample_ref

    x = noise(22050, 0.3)
    table = resample.polyphase_table(22050, 16000)
    a = _resample.Resampler(22050, 16000, 320, 441, table).process(x)
    b = _resample_ref.Resampler(22050, 16000, 320, 441, table).process(x)
    assert np.abs(a.astype(np.int32) - b).max() <= 1


def test_float32_path_matches_int16_path(kernels: str) -> None:
    x = noise(16000, 0.2)
    y_int = one_shot(16000, 8000, x).astype(np.float64)
    y_float = one_shot(16000, 8000, x.astype(np.float32)).astype(np.float64)
    assert np.abs(y_int - y_float).max() <= 0.5 + 1e-3


def test_reset_starts_a_new_stream(kernels: str) -> None:
    rs = resample.resampler(8000, 16000)
    x = noise(8000, 0.1)
    first = rs.process(x).copy()
    rs.reset()
    assert np.array_equal(rs.process(x), first)


def test_same_rate_is_a_copy_without_delay(kernels: str) -> None:
    x = noise(16000, 0.02)
    rs = resample.resampler(16000, 16000)
    y = rs.process(x)
    assert np.array_equal(y, x) and y is not x
    assert resample.delay_seconds(16000, 16000) == 0


def test_a_tone_keeps_its_level_across_a_chain(kernels: str) -> None:
    # caller 8 kHz -> 16 kHz internal -> 48 kHz browser: still 0 dB at 1 kHz
    x = tone(1000.0, 8000)
    up = one_shot(8000, 16000, x)
    y = one_shot(16000, 48000, up).astype(np.float64)
    assert 20 * np.log10(tone_amplitude(y, 1000.0, 48000) / 0.5) == pytest.approx(0, abs=0.05)


@pytest.mark.parametrize(
    ("samples", "error", "message"),
    [
        (np.zeros(160, np.float64), TypeError, "samples: expected dtype int16"),
        (np.zeros(160, np.int32), TypeError, "samples: expected dtype int16"),
        (b"\x00" * 320, TypeError, "samples: expected a numpy"),
        (np.zeros((2, 160), np.int16), ValueError, "samples: expected a 1-D array"),
        (np.zeros(320, np.int16)[::2], ValueError, "samples: array must be C-contiguous"),
        (np.array([0.0, np.nan], np.float32), ValueError, "samples: non-finite value at index 1"),
        (np.array([np.inf, 0.0], np.float32), ValueError, "samples: non-finite value at index 0"),
    ],
)
def test_bad_samples_are_refused_and_the_stream_survives(
    kernels: str, samples: object, error: type, message: str
) -> None:
    rs = resample.resampler(8000, 16000)
    x = noise(8000, 0.04)
    with pytest.raises(error, match=message):
        rs.process(samples)  # type: ignore[arg-type]
    good = resample.resampler(8000, 16000)
    assert np.array_equal(rs.process(x), good.process(x))


@pytest.mark.parametrize(
    ("in_rate", "out_rate"),
    [(2000, 16000), (16000, 0), ("8000", 16000), (8000, 16000.0), (True, 8000)],
)
def test_unsupported_rates_are_refused(in_rate: object, out_rate: object) -> None:
    with pytest.raises(ValueError, match=r"in_rate|out_rate"):
        resample.resampler(in_rate, out_rate)  # type: ignore[arg-type]


def test_stored_prototype_is_the_documented_design() -> None:
    from scipy import signal

    fs = _resample_filter.OVERSAMPLING
    designed = signal.remez(
        _resample_filter.LENGTH_IN_LOW_SAMPLES * fs + 1,
        [0, 0.425, 0.575, 1.4, 1.401, fs / 2],
        [1, 0, 0],
        weight=[1, 30, 300],
        fs=fs,
        maxiter=400,
    )
    designed /= designed.sum()
    half = np.array(_resample_filter.HALF)
    assert np.allclose(designed[: half.size], half, atol=1e-9)
