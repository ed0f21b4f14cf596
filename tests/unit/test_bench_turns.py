"""bench.turns counts what it says: a caller cut off in a pause, a commit's
delay, a verdict that arrives as many frames later as the model took.
(espeak-ng callers, the real VAD; the end-of-turn model and STT are fakes.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.turns import NO_WAIT, UNFINISHED, WAIT, Heard, score
from bench.turns_audio import RATE, Clip, place, trim
from bench.turns_endpoint import Remembered, endpoint
from mediaserver.config import VadConfig
from native import resample
from tests.speech import speak

SMART = VadConfig(end_of_turn="smart-turn")


class Verdict:
    def __init__(self, p: float) -> None:
        self.p = p

    def probability(self, audio: np.ndarray) -> float:
        return self.p


class Words:
    """An STT that always hears the same words."""

    def __init__(self, text: str) -> None:
        self.text = text

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> Words:
        return self


def voice(tmp_path: Path, text: str) -> np.ndarray:
    audio, rate = speak(text, tmp_path / "v.wav")
    return trim(resample.resampler(rate, RATE).process(audio).astype(np.int16))


def paused(tmp_path: Path, pause_s: float) -> Clip:
    a, b = voice(tmp_path, "I would like to book a cleaning for"), voice(tmp_path, "next Tuesday")
    gap = np.zeros(int(pause_s * RATE), np.int16)
    lead = RATE  # bench.turns_audio.LEAD_S
    pause = (lead + a.size, lead + a.size + gap.size)
    audio = place(np.concatenate([a, gap, b]))
    return Clip("paused", "test", audio, pause[1] + b.size, pause)


def test_a_pause_longer_than_the_endpointer_is_a_cut_off(tmp_path: Path) -> None:
    clip = paused(tmp_path, 0.9)
    outcome = endpoint(clip, VadConfig(), Remembered(Verdict(0.5)))  # type: ignore[arg-type]
    first, last = outcome.commits[0][0], outcome.commits[-1][0]
    assert clip.pause[0] < first < clip.pause[1]  # committed inside the pause
    assert abs(last - clip.voice_end - 600 * 16) <= 320  # 600 ms after the voice stops
    # the model saying "not finished" keeps the turn whole
    unfinished = endpoint(clip, SMART, Remembered(Verdict(0.1)))  # type: ignore[arg-type]
    assert [c for c, _ in unfinished.commits if c < clip.voice_end] == []


def test_the_rows_count_cut_offs_and_the_wait_on_words_left_hanging(tmp_path: Path) -> None:
    clips = [paused(tmp_path, 0.9)]
    model = Remembered(Verdict(0.99))  # type: ignore[arg-type]
    say = {"model": model, "stages_ms": 0.0}
    plain = score("today", VadConfig(), NO_WAIT, clips, heard=Heard(Words("for")), **say)  # type: ignore[arg-type]
    assert plain["false_cutoff_rate"] == 1.0
    assert {"config", "false_cutoff_rate", "late_commit_rate", "v2v_p50_ms", "v2v_p95_ms"} <= set(
        plain
    )
    waited = score(
        "wait", VadConfig(), WAIT, clips, heard=Heard(Words("... a cleaning for")), **say
    )  # type: ignore[arg-type]
    assert waited["false_cutoff_rate"] == 0.0  # the engine would merge the two
    finished = score("wait", VadConfig(), WAIT, clips, heard=Heard(Words("... Tuesday.")), **say)  # type: ignore[arg-type]
    assert finished["false_cutoff_rate"] == 1.0


def test_words_not_ended_as_a_sentence_wait_only_when_configured(tmp_path: Path) -> None:
    clips = [paused(tmp_path, 0.9)]
    model = Remembered(Verdict(0.99))  # type: ignore[arg-type]
    say = {"model": model, "stages_ms": 0.0, "heard": Heard(Words("I'd like a cleaning,"))}
    assert score("wait", VadConfig(), WAIT, clips, **say)["false_cutoff_rate"] == 1.0  # type: ignore[arg-type]
    held = score("unfinished", VadConfig(), UNFINISHED, clips, **say)  # type: ignore[arg-type]
    assert held["false_cutoff_rate"] == 0.0


def test_a_caller_back_before_the_first_word_is_an_early_commit_not_a_cut_off(
    tmp_path: Path,
) -> None:
    clips = [paused(tmp_path, 0.9)]
    model = Remembered(Verdict(0.99))  # type: ignore[arg-type]
    say = {"model": model, "heard": Heard(Words("... Tuesday."))}
    quick = score("today", VadConfig(), NO_WAIT, clips, stages_ms=0.0, **say)  # type: ignore[arg-type]
    assert quick["false_cutoff_rate"] == quick["early_commit_rate"] == 1.0
    # STT + LLM + TTS take longer than the pause: the first word comes after
    # the caller is back, and the engine merges the two utterances
    slow = score("today", VadConfig(), NO_WAIT, clips, stages_ms=1200.0, **say)  # type: ignore[arg-type]
    assert slow["false_cutoff_rate"] == 0.0
    assert slow["early_commit_rate"] == 1.0
    # ready while the caller is still silent: cut off
    edge = score("today", VadConfig(), NO_WAIT, clips, stages_ms=500.0, **say)  # type: ignore[arg-type]
    assert edge["false_cutoff_rate"] == 1.0
