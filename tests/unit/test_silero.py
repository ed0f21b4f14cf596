"""Silero VAD (the real model faster-whisper ships) as the frame classifier:
it hears an espeak-ng caller, and not the noise that fools webrtcvad."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediaserver.config import ConfigError, VadConfig
from mediaserver.events import SpeechStarted
from mediaserver.frames import AudioFrame
from mediaserver.media.silero import SileroClassifier
from mediaserver.media.vad import VoiceActivity, WebRtcClassifier
from native import resample
from tests.speech import speak

RATE = 16000
FRAME = 320


def frames(audio: np.ndarray) -> list[AudioFrame]:
    n = audio.size // FRAME
    return [AudioFrame(audio[i * FRAME : (i + 1) * FRAME], RATE, i * FRAME) for i in range(n)]


def caller(tmp_path: Path) -> np.ndarray:
    audio, rate = speak("Can I book a cleaning for next Tuesday?", tmp_path / "caller.wav")
    return resample.resampler(rate, RATE).process(audio).astype(np.int16)


def noise_after_silence(seconds: float = 3.0) -> np.ndarray:
    """A second of quiet line, then a fan switched on: loud, broadband, no voice."""
    rng = np.random.default_rng(7)
    quiet = rng.normal(0, 30, RATE).astype(np.int16)
    # rough, non-stationary: white noise under a slow random envelope (clatter, wind)
    envelope = np.repeat(rng.uniform(0.3, 1.0, int(seconds * 50)), FRAME)
    fan = (rng.normal(0, 3000, envelope.size) * envelope).astype(np.int16)
    return np.concatenate([quiet, fan])


def test_silero_hears_the_caller(tmp_path: Path) -> None:
    audio = caller(tmp_path)
    silero = SileroClassifier(RATE)
    verdicts = [silero.is_speech(f) for f in frames(audio)]
    loud = [bool(np.abs(f.samples).max() > 2000) for f in frames(audio)]
    heard = sum(v for v, voice in zip(verdicts, loud, strict=True) if voice)
    assert heard >= 0.8 * sum(loud)
    padded = np.concatenate([np.zeros(RATE // 2, np.int16), audio, np.zeros(RATE, np.int16)])
    assert started(VadConfig(classifier="silero"), padded) == 1


def started(vad: VadConfig, audio: np.ndarray) -> int:
    activity = VoiceActivity(vad, RATE)
    return sum(isinstance(activity.process(f), SpeechStarted) for f in frames(audio))


def test_noise_starts_no_utterance_with_silero() -> None:
    noise = noise_after_silence()
    assert started(VadConfig(), noise) >= 1  # webrtcvad takes it for speech
    assert started(VadConfig(classifier="silero"), noise) == 0
    assert isinstance(VoiceActivity(VadConfig(), RATE).classifier, WebRtcClassifier)


def test_silero_checks_its_input() -> None:
    with pytest.raises(ValueError, match="16000"):
        SileroClassifier(8000)
    with pytest.raises(ValueError, match="20 ms"):
        SileroClassifier(RATE).is_speech(AudioFrame(np.zeros(160, np.int16), RATE))
    with pytest.raises(ConfigError, match=r"vad\.classifier"):
        VadConfig(classifier="rnnoise")


def held_ticks(vad: VadConfig) -> int:
    """The agent greets; a second in, the fan noise starts on the caller's line:
    the ticks the agent spent held for the caller (virtual time, fake models)."""
    import asyncio

    from mediaserver.agents import Agent
    from mediaserver.session import Session
    from tests.fake_speech import FakeSpeech
    from tests.virtual_time import run_virtual

    noise = noise_after_silence()

    async def call() -> int:
        session = Session(Agent(), FakeSpeech(), vad)
        session.start()
        held = 0
        for frame in frames(noise):
            session.tick(frame)
            held += session.engine.speaker.holding
            await asyncio.sleep(0.02)
        await session.close()
        return held

    return run_virtual(call())


def test_a_noisy_line_does_not_barge_in_with_silero() -> None:
    assert held_ticks(VadConfig()) > 0  # webrtcvad: the agent stops for the fan
    assert held_ticks(VadConfig(classifier="silero")) == 0
