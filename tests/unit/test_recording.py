"""The call recording: caller left, agent right, every frame in order, the
last part-filled batch included."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from mediaserver.recording import BATCH_FRAMES, Recorder


def frames(count: int, start: int, size: int = 320) -> list[np.ndarray]:
    samples = (np.arange(count * size) + start) % 30000
    return [samples[i * size : (i + 1) * size].astype(np.int16) for i in range(count)]


def test_every_frame_lands_in_order_with_the_last_partial_batch(tmp_path: Path) -> None:
    count = BATCH_FRAMES * 2 + 7  # two whole batches and a part
    caller, agent = frames(count, 0), frames(count, 20000)
    recorder = Recorder(tmp_path / "call.wav")
    for left, right in zip(caller, agent, strict=True):
        recorder.add(left, right)
    recorder.close()
    with wave.open(str(tmp_path / "call.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 16000)
        stereo = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.array_equal(stereo[:, 0], np.concatenate(caller))
    assert np.array_equal(stereo[:, 1], np.concatenate(agent))
    assert recorder.dropped == 0


def test_frames_of_another_size_are_kept_whole(tmp_path: Path) -> None:
    caller, agent = frames(3, 0, size=480), frames(3, 5000, size=480)
    recorder = Recorder(tmp_path / "odd.wav")
    for left, right in zip(caller, agent, strict=True):
        recorder.add(left, right)
    recorder.close()
    with wave.open(str(tmp_path / "odd.wav")) as w:
        stereo = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.array_equal(stereo[:, 0], np.concatenate(caller))
    assert np.array_equal(stereo[:, 1], np.concatenate(agent))


def test_an_empty_recording_is_a_valid_empty_file(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "empty.wav")
    recorder.close()
    with wave.open(str(tmp_path / "empty.wav")) as w:
        assert w.getnframes() == 0
