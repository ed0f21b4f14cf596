"""The end-of-turn option on fake models: when the utterance ends, and what
the model hears. The verdict comes from a fake, run inline or held back."""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from mediaserver.agents import Agent
from mediaserver.config import ConfigError, VadConfig
from mediaserver.events import SpeechEnded, SpeechStarted
from mediaserver.frames import AudioFrame
from mediaserver.media.end_of_turn import EndOfTurn
from mediaserver.media.vad import Endpointer
from mediaserver.session import Session
from tests.fake_speech import FakeSpeech

RATE = 16000
FRAME = 320
VAD = VadConfig(
    end_of_turn="smart-turn",
    end_of_turn_after_ms=200,
    end_of_turn_max_ms=2000,
    end_of_turn_every_ms=0,  # asked once per stretch of silence (re-asking: its own tests)
)
AGAIN = dataclasses.replace(VAD, end_of_turn_every_ms=200)


class FakeModel:
    def __init__(self, p: float | Exception) -> None:
        self.p = p
        self.heard: list[np.ndarray] = []

    def probability(self, audio: np.ndarray) -> float:
        self.heard.append(audio)
        if isinstance(self.p, Exception):
            raise self.p
        return self.p


def inline(fn: Callable[[], float]) -> concurrent.futures.Future[float]:
    future: concurrent.futures.Future[float] = concurrent.futures.Future()
    try:
        future.set_result(fn())
    except Exception as exc:
        future.set_exception(exc)
    return future


class Held:
    """Verdicts that arrive only when released (a slow model)."""

    def __init__(self) -> None:
        self.futures: list[concurrent.futures.Future[float]] = []
        self.jobs: list[Callable[[], float]] = []

    def __call__(self, fn: Callable[[], float]) -> concurrent.futures.Future[float]:
        self.jobs.append(fn)
        self.futures.append(concurrent.futures.Future())
        return self.futures[-1]

    def release(self) -> None:
        for job, future in zip(self.jobs, self.futures, strict=True):
            if not future.done():
                future.set_result(job())


def run(
    voiced: list[bool],
    eot: EndOfTurn,
    on_tick: Callable[[int], None] | None = None,
) -> list[tuple[int, SpeechStarted | SpeechEnded]]:
    """Feed per-frame verdicts (the caller's level: the tick number) through the
    long-cap endpointer and the end-of-turn stage; the events by tick."""
    config = VadConfig(end_ms=VAD.end_of_turn_max_ms)
    endpointer = Endpointer(config, RATE)
    events = []
    for tick, speech in enumerate(voiced):
        if on_tick is not None:
            on_tick(tick)
        frame = AudioFrame(np.full(FRAME, tick, np.int16), RATE, tick * FRAME)
        event = endpointer.update(speech, frame.position, frame.end)
        if (event := eot.update(frame, event, endpointer)) is not None:
            events.append((tick, event))
    return events


def talk(speech_frames: int, *pauses: tuple[int, int], tail: int = 150) -> list[bool]:
    """`speech_frames` of speech with (at, frames) pauses inside, then silence."""
    voiced = [True] * speech_frames + [False] * tail
    for at, frames in pauses:
        voiced[at : at + frames] = [False] * frames
    return voiced


def test_a_finished_turn_ends_after_the_short_silence() -> None:
    model = FakeModel(0.9)
    eot = EndOfTurn(VAD, RATE, model, submit=inline)
    events = run(talk(50), eot)
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded]
    tick, ended = events[1]
    assert tick == 50 + 10 - 1  # the 10th silent frame: 200 ms
    assert ended.end == 50 * FRAME + VAD.hangover_ms * 16  # the voice's end plus the hangover
    assert eot.asked == eot.finished == 1


def test_an_unfinished_turn_waits_for_the_long_cap() -> None:
    eot = EndOfTurn(VAD, RATE, FakeModel(0.1), submit=inline)
    events = run(talk(50), eot)
    tick, _ = events[1]
    assert tick == 50 + 100 - 1  # 2000 ms of silence
    assert eot.asked == 1 and eot.finished == 0 and eot.last_probability == 0.1


class Sequence:
    """A model whose verdicts come in the order given (then the last, again)."""

    def __init__(self, *ps: float) -> None:
        self.ps = list(ps)
        self.heard: list[int] = []

    def probability(self, audio: np.ndarray) -> float:
        self.heard.append(audio.size)
        return self.ps.pop(0) if len(self.ps) > 1 else self.ps[0]


def test_the_model_is_asked_again_as_the_silence_grows() -> None:
    model = Sequence(0.1, 0.2, 0.9)
    eot = EndOfTurn(AGAIN, RATE, model, submit=inline)
    events = run(talk(50), eot)
    tick, _ = events[1]
    assert tick == 50 + 30 - 1  # the third verdict, at 600 ms of silence
    assert eot.asked == 3 and eot.finished == 1
    assert model.heard[1] - model.heard[0] == 200 * 16  # it heard 200 ms more silence


def test_asked_again_and_never_finished_the_cap_ends_it() -> None:
    eot = EndOfTurn(AGAIN, RATE, FakeModel(0.1), submit=inline)
    events = run(talk(50), eot)
    assert events[1][0] == 50 + 100 - 1
    assert eot.asked == 9  # at 200, 400, ... 1800 ms


def test_a_slow_verdict_is_not_asked_for_twice() -> None:
    held = Held()
    eot = EndOfTurn(AGAIN, RATE, FakeModel(0.1), submit=held)
    events = run(talk(50), eot)  # never released
    assert events[1][0] == 50 + 100 - 1 and eot.asked == 1


def test_a_mid_sentence_pause_is_not_cut_when_the_model_says_unfinished() -> None:
    # speech, an 800 ms pause (longer than the 600 ms endpointer), speech again
    eot = EndOfTurn(VAD, RATE, FakeModel(0.1), submit=inline)
    events = run(talk(120, (50, 40)), eot)
    assert [type(e) for _, e in events] == [SpeechStarted, SpeechEnded]
    assert eot.asked == 2  # once in the pause, once at the end


def test_a_verdict_is_dropped_when_the_caller_speaks_again_meanwhile() -> None:
    held = Held()
    eot = EndOfTurn(VAD, RATE, FakeModel(0.99), submit=held)
    # the model is asked in the pause; its verdict arrives after the caller went on
    events = run(talk(120, (50, 15)), eot, on_tick=lambda t: held.release() if t == 70 else None)
    # not cut at 70; the verdict at the end is held back too: the cap ends it
    assert [tick for tick, e in events if isinstance(e, SpeechEnded)] == [120 + 100 - 1]
    assert eot.asked == 2 and eot.finished == 0


def test_a_failing_model_leaves_the_decision_to_the_cap() -> None:
    eot = EndOfTurn(VAD, RATE, FakeModel(RuntimeError("broken")), submit=inline)
    events = run(talk(50), eot)
    assert events[1][0] == 50 + 100 - 1 and eot.failed == 1


def test_the_model_hears_the_utterance_and_its_trailing_silence_at_most_8_s() -> None:
    model = FakeModel(0.9)
    eot = EndOfTurn(VAD, RATE, model, submit=inline)
    run(talk(50), eot)
    (audio,) = model.heard
    first = int(audio[0])  # each frame carries its tick as its level
    assert first == 0 and audio.size == 60 * FRAME  # from the preroll to the 200 ms silence
    model = FakeModel(0.9)
    run(talk(500), EndOfTurn(VAD, RATE, model, submit=inline))
    assert model.heard[0].size == 8 * RATE


def test_end_of_turn_config_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"vad\.end_of_turn"):
        VadConfig(end_of_turn="sometimes")
    with pytest.raises(ConfigError, match="end_of_turn_after_ms"):
        VadConfig(end_of_turn_after_ms=3000, end_of_turn_max_ms=2000)
    with pytest.raises(ConfigError, match="end_of_turn_every_ms"):
        VadConfig(end_of_turn_every_ms=-200)
    with pytest.raises(ValueError, match="needs its model"):
        Session(Agent(), FakeSpeech(), VAD)
