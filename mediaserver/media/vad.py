"""Voice activity detection and endpointing on 20 ms frames.

A frame counts as speech when the classifier (webrtcvad by default; any
FrameClassifier, e.g. a model VAD for noisy lines) says so AND its level
stands clear of the tracked noise floor, which keeps line hiss and comfort
noise out. The Endpointer turns that per-frame verdict into utterances.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import webrtcvad

from mediaserver.config import VadConfig
from mediaserver.events import SpeechEnded, SpeechStarted
from mediaserver.frames import FRAME_MS, AudioFrame
from native import energy

VAD_RATES = (8000, 16000, 32000, 48000)


class FrameClassifier(Protocol):
    def is_speech(self, frame: AudioFrame) -> bool: ...


class WebRtcClassifier:
    """webrtcvad's GMM classifier (about 2 us a frame)."""

    def __init__(self, rate: int, mode: int) -> None:
        if rate not in VAD_RATES:
            raise ValueError(f"rate: webrtcvad takes {VAD_RATES}, got {rate}")
        self.rate = rate
        self._vad = webrtcvad.Vad(mode)

    def is_speech(self, frame: AudioFrame) -> bool:
        if frame.rate != self.rate or frame.samples.shape[0] * 1000 != self.rate * FRAME_MS:
            raise ValueError(f"frame: expected {FRAME_MS} ms at {self.rate} Hz")
        return bool(self._vad.is_speech(frame.samples.tobytes(), self.rate))


def make_classifier(config: VadConfig, rate: int) -> FrameClassifier:
    """The classifier [vad] names."""
    if config.classifier == "silero":
        from mediaserver.media.silero import SileroClassifier

        return SileroClassifier(rate, config.silero_threshold)
    return WebRtcClassifier(rate, config.mode)


class NoiseGate:
    """Open when a frame stands `margin_db` above the noise floor.

    The floor is the quietest frame of the last two seconds (minimum
    statistics): steady hiss becomes the floor within two seconds, while
    speech, which dips between words and phrases, does not.
    """

    WINDOW_FRAMES = 2000 // FRAME_MS

    def __init__(self, margin_db: float, floor_db: float) -> None:
        self.margin_db = margin_db
        self.min_level_db = floor_db
        self._levels: deque[float] = deque(maxlen=self.WINDOW_FRAMES)
        self.last_level_db = -120.0

    @property
    def noise_db(self) -> float:
        return min(self._levels, default=-120.0)

    def is_open(self, level_db: float) -> bool:
        self._levels.append(level_db)
        self.last_level_db = level_db
        return level_db >= self.min_level_db and level_db >= self.noise_db + self.margin_db


class Endpointer:
    """Per-frame speech verdicts in, SpeechStarted/SpeechEnded out.

    Started when start_ms of the last start_ms + 40 ms were speech (so one
    dropout does not reset the count); the start is moved back by preroll_ms.
    Ended after end_ms of silence, with hangover_ms kept after the last
    speech frame; utterances under min_utterance_ms come out too_short, and
    one reaching max_utterance_ms is cut (forced) and a new one may begin.
    """

    def __init__(self, config: VadConfig, rate: int) -> None:
        self.config = config
        self.rate = rate
        self._ms = rate // 1000
        window = config.start_ms // FRAME_MS + 2
        self._recent: deque[tuple[bool, int]] = deque(maxlen=window)
        self._start_frames = max(1, config.start_ms // FRAME_MS)
        self._in_speech = False
        self._start = self._onset = 0
        self._last_speech_end = 0
        self._silence_ms = 0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def update(self, speech: bool, position: int, end: int) -> SpeechStarted | SpeechEnded | None:
        """Feed one frame's verdict; [position, end) are its samples."""
        c = self.config
        self._recent.append((speech, position))
        if not self._in_speech:
            voiced = [pos for is_voice, pos in self._recent if is_voice]
            if len(voiced) < self._start_frames:
                return None
            self._in_speech = True
            self._onset = voiced[0]
            self._start = max(0, self._onset - c.preroll_ms * self._ms)
            self._last_speech_end = end
            self._silence_ms = 0
            return SpeechStarted(self._start)
        if speech:
            self._last_speech_end = end
            self._silence_ms = 0
        else:
            self._silence_ms += (end - position) // self._ms
        if end - self._start >= c.max_utterance_ms * self._ms:
            return self._finish(end, forced=True)
        if self._silence_ms >= c.end_ms:
            return self._finish(min(end, self._last_speech_end + c.hangover_ms * self._ms))
        return None

    def end_now(self, end: int) -> SpeechEnded | None:
        """End the utterance at once, `end` being the newest sample (an end-of-turn
        model says the caller is done)."""
        if not self._in_speech:
            return None
        return self._finish(min(end, self._last_speech_end + self.config.hangover_ms * self._ms))

    @property
    def silence_ms(self) -> int:
        """Trailing silence in the current utterance."""
        return self._silence_ms if self._in_speech else 0

    def _finish(self, stop: int, forced: bool = False) -> SpeechEnded:
        self._in_speech = False
        self._recent.clear()
        speech_ms = (self._last_speech_end - self._onset) // self._ms
        too_short = speech_ms < self.config.min_utterance_ms
        return SpeechEnded(self._start, stop, too_short=too_short, forced=forced)


class VoiceActivity:
    """Classifier + noise gate + endpointer for one inbound stream."""

    def __init__(
        self, config: VadConfig, rate: int, classifier: FrameClassifier | None = None
    ) -> None:
        self.classifier = classifier or make_classifier(config, rate)
        self.gate = NoiseGate(config.gate_margin_db, config.gate_floor_db)
        self.endpointer = Endpointer(config, rate)

    def is_speech(self, frame: AudioFrame) -> bool:
        gate_open = self.gate.is_open(energy.level_db(frame.samples))
        return gate_open and self.classifier.is_speech(frame)

    def process(self, frame: AudioFrame) -> SpeechStarted | SpeechEnded | None:
        return self.endpointer.update(self.is_speech(frame), frame.position, frame.end)
