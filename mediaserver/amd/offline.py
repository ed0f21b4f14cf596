"""Answering-machine detection over a recorded answer, frame by frame, as a
call would run it (the bench and the tests): the VAD a call uses, and an
optional transcriber whose answer arrives `latency` seconds after it was
asked for (its measured time, when latency is None)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mediaserver.amd.detector import AmdConfig, AmdDecision, AmdDetector
from mediaserver.config import VadConfig
from mediaserver.frames import FRAME_MS, AudioFrame
from mediaserver.media.vad import VoiceActivity


@dataclass(frozen=True, slots=True)
class OfflineResult:
    decision: AmdDecision | None
    ready_s: float | None  # when a voicemail message would start (machine verdicts)
    transcript: str | None
    carrier: bool


def detect(
    samples: np.ndarray,
    rate: int,
    *,
    transcribe: Callable[[np.ndarray], str] | None = None,
    latency: float | None = None,
    config: AmdConfig | None = None,
    vad: VadConfig | None = None,
) -> OfflineResult:
    """Run the detector over `samples` (the callee's side from the answer on)."""
    if transcribe is None and config is None:
        config = AmdConfig(transcript_wait_s=0.0)
    detector = AmdDetector(rate, config)
    activity = VoiceActivity(vad or VadConfig(), rate)
    frame_samples = rate * FRAME_MS // 1000
    pending: tuple[int, str] | None = None  # (frame it arrives on, text)
    asked = False
    ready_s = None
    for index in range(samples.size // frame_samples):
        chunk = samples[index * frame_samples : (index + 1) * frame_samples]
        frame = AudioFrame(chunk, rate, index * frame_samples)
        detector.feed(frame, activity.is_speech(frame))
        if detector.transcript_span is not None and not asked and transcribe is not None:
            asked = True
            start, end = detector.transcript_span
            began = time.perf_counter()
            text = transcribe(samples[start:end])
            seconds = time.perf_counter() - began if latency is None else latency
            pending = (index + max(1, math.ceil(seconds * 1000 / FRAME_MS)), text)
        if pending is not None and index >= pending[0]:
            detector.heard(pending[1])
            pending = None
        decision = detector.decision
        if decision is not None and decision.verdict != "machine":
            break
        if decision is not None and detector.ready_for_message:
            ready_s = detector.now_s
            break
    return OfflineResult(detector.decision, ready_s, detector.transcript, detector.carrier)
