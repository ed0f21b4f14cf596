import threading

import numpy as np
import pytest

from native import playout


def ramp(n: int, start: int = 1) -> np.ndarray:
    return (np.arange(n) % 30000 + start).astype(np.int16)


def test_a_burst_comes_out_one_frame_per_read_then_silence(kernels: str) -> None:
    buf = playout.playout_buffer(rate=16000)
    audio = ramp(16000 * 3 + 100)  # TTS hands over 3 s at once
    assert buf.write(audio, utterance=1) == audio.size
    frames = [buf.read().copy() for _ in range(152)]
    assert all(f.size == 320 for f in frames)
    assert np.array_equal(np.concatenate(frames)[: audio.size], audio)
    assert not np.concatenate(frames)[audio.size :].any()
    assert buf.buffered == 0


def test_clear_drops_the_rest_and_reports_what_was_heard(kernels: str) -> None:
    buf = playout.playout_buffer(rate=8000)
    buf.write(ramp(8000), utterance=5)
    buf.write(ramp(4000), utterance=6)
    for _ in range(10):
        buf.read()
    assert buf.played(5) == 1600 and buf.played(6) == 0
    assert buf.clear() == 12000 - 1600
    assert buf.buffered == 0 and not buf.read().any()
    assert buf.played(5) == 1600 and buf.played(6) == 0
    buf.write(ramp(320), utterance=7)
    assert buf.read()[0] == 1 and buf.played(7) == 160


def test_an_utterance_written_in_pieces_is_counted_whole(kernels: str) -> None:
    buf = playout.playout_buffer(rate=16000)
    for _ in range(4):
        buf.write(ramp(500), utterance=9)
    for _ in range(5):
        buf.read()
    assert buf.played(9) == 1600
    for _ in range(5):
        buf.read()
    assert buf.played(9) == 2000 and buf.played(10) == 0


def test_writes_beyond_capacity_are_refused_not_overwritten(kernels: str) -> None:
    buf = playout.playout_buffer(rate=8000, seconds=1.0)
    assert buf.write(ramp(6000)) == 6000
    assert buf.write(ramp(6000, start=100)) == 2000
    assert buf.free == 0
    out = np.concatenate([buf.read().copy() for _ in range(50)])
    assert np.array_equal(out[:6000], ramp(6000))
    assert np.array_equal(out[6000:], ramp(2000, start=100))


def test_fill_from_one_thread_while_another_drains(kernels: str) -> None:
    buf = playout.playout_buffer(rate=8000, seconds=0.5)
    audio = ramp(8000 * 20)
    received: list[np.ndarray] = []
    done = threading.Event()

    def drain() -> None:
        while not done.is_set() or buf.buffered:
            received.append(buf.read().copy())

    reader = threading.Thread(target=drain)
    reader.start()
    i = 0
    while i < audio.size:
        i += buf.write(audio[i : i + 997], utterance=1)
    done.set()
    reader.join(timeout=30)
    got = np.concatenate(received)
    got = got[got != 0]  # silence ticks where the reader outran the writer
    assert np.array_equal(got, audio)
    assert buf.played(1) == audio.size


@pytest.mark.parametrize(
    ("pcm", "error"),
    [
        (np.zeros(10, np.float32), TypeError),
        (np.zeros((2, 5), np.int16), ValueError),
        (np.zeros(20, np.int16)[::2], ValueError),
        (b"\x00\x00", TypeError),
    ],
)
def test_bad_writes_are_refused_and_change_nothing(kernels: str, pcm: object, error: type) -> None:
    buf = playout.playout_buffer(rate=8000)
    buf.write(ramp(100), utterance=1)
    with pytest.raises(error, match="pcm"):
        buf.write(pcm, utterance=2)  # type: ignore[arg-type]
    assert buf.buffered == 100 and buf.played(2) == 0


@pytest.mark.parametrize("kw", [{"rate": 0}, {"rate": 11025}, {"seconds": 0}, {"seconds": 1e6}])
def test_bad_settings_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"rate|seconds"):
        playout.playout_buffer(**kw)  # type: ignore[arg-type]
