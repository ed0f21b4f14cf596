"""The inbound media path on real synthetic speech: espeak-ng at 22.05 kHz,
down to the 8 kHz telephone band, G.711 both ways, up to 16 kHz, VAD."""

from pathlib import Path

import numpy as np
import pytest

from mediaserver.config import VadConfig
from mediaserver.events import SpeechEnded, SpeechStarted
from mediaserver.frames import AudioFrame
from mediaserver.media.vad import VoiceActivity
from native import g711, resample
from tests.speech import speak

pytestmark = pytest.mark.integration


def telephone(samples: np.ndarray, rate: int) -> np.ndarray:
    """samples at `rate` -> 8 kHz mu-law -> decoded -> 16 kHz, in 20 ms frames."""
    down, up = resample.resampler(rate, 8000), resample.resampler(8000, 16000)
    enc, dec = g711.encoder("ulaw"), g711.decoder("ulaw")
    narrow = down.process(samples).copy()
    frames = range(0, narrow.size - 159, 160)
    return np.concatenate(
        [up.process(dec.decode(enc.encode(narrow[i : i + 160]))).copy() for i in frames]
    )


def events_of(audio: np.ndarray, config: VadConfig) -> list[object]:
    vad = VoiceActivity(config, 16000)
    events = []
    for pos in range(0, audio.size - 319, 320):
        frame = AudioFrame(audio[pos : pos + 320].copy(), 16000, pos)
        if (event := vad.process(frame)) is not None:
            events.append(event)
    return events


def test_one_spoken_sentence_over_a_phone_line_is_one_utterance(tmp_path: Path) -> None:
    speech, rate = speak("Hello, I would like to book a table for two tonight.", tmp_path / "q.wav")
    rng = np.random.default_rng(0)
    silence = np.zeros(rate, np.int16)
    signal = np.concatenate([silence, speech, silence, silence])
    hiss = rng.normal(0, 60, signal.size)  # about -55 dBFS line noise
    noisy = np.clip(signal + hiss, -32768, 32767).astype(np.int16)

    audio = telephone(noisy, rate)
    events = events_of(audio, VadConfig())

    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]
    start, end = events[1].start, events[1].end  # type: ignore[attr-defined]
    voiced = np.flatnonzero(np.abs(speech) > 500)
    onset = (rate + voiced[0]) * 16000 // rate
    offset = (rate + voiced[-1]) * 16000 // rate
    assert abs(start - onset) <= 0.2 * 16000
    assert offset - 0.1 * 16000 <= end <= offset + 0.3 * 16000
    assert not events[1].too_short  # type: ignore[attr-defined]


def test_line_noise_alone_is_never_speech() -> None:
    rng = np.random.default_rng(1)
    hum = 2000 * np.sin(2 * np.pi * 50 * np.arange(16000 * 5) / 16000)
    noise = np.clip(rng.normal(0, 400, 16000 * 5) + hum, -32768, 32767).astype(np.int16)
    assert events_of(noise, VadConfig()) == []


def test_two_sentences_with_a_long_pause_are_two_utterances(tmp_path: Path) -> None:
    first, rate = speak("Yes, that is right.", tmp_path / "a.wav")
    second, _ = speak("And my number is five five five.", tmp_path / "b.wav")
    gap = np.zeros(rate * 2, np.int16)
    audio = telephone(np.concatenate([gap, first, gap, second, gap]), rate)
    events = events_of(audio, VadConfig())
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded] * 2
