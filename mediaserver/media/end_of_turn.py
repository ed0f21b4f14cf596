"""Semantic end of turn: after a short silence an end-of-turn model judges
the caller's audio so far. Likely finished: the utterance ends at once
(the speculative answer is already under way). Likely not, or no verdict:
the model is asked again every end_of_turn_every_ms of silence (it hears
more of the pause each time), and the endpointer waits out its longer cap
([vad] end_of_turn_max_ms).

The model runs on a worker thread, never on the event loop; its verdict is
picked up on the first tick after it is ready, and dropped if the caller
spoke again meanwhile."""

from __future__ import annotations

import concurrent.futures
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from mediaserver.config import VadConfig
from mediaserver.config_models import ModelsConfig
from mediaserver.events import SpeechEnded, SpeechStarted
from mediaserver.frames import AudioFrame, InboundAudio
from mediaserver.media.vad import Endpointer

log = logging.getLogger(__name__)

MODEL_RATE = 16000
WINDOW_SECONDS = 8  # what the model hears at most


class TurnModel(Protocol):
    def probability(self, audio: np.ndarray) -> float:
        """P(the speaker has finished) for 16 kHz int16 audio; blocking."""
        ...


Submit = Callable[[Callable[[], float]], "concurrent.futures.Future[float]"]

# one model run at a time for the whole process: a call waits at most for the others' runs
_worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="end-of-turn")


class EndOfTurn:
    """Sits behind an Endpointer whose end_ms is the long cap."""

    def __init__(
        self, config: VadConfig, rate: int, model: TurnModel, submit: Submit | None = None
    ) -> None:
        if rate != MODEL_RATE:
            raise ValueError(f"rate: the end-of-turn model hears {MODEL_RATE} Hz, got {rate}")
        self.config = config
        self.rate = rate
        self.model = model
        self._submit: Submit = submit or _worker.submit
        self._audio = InboundAudio(rate, WINDOW_SECONDS + 1)
        self._start = 0
        self._next_ask_ms = config.end_of_turn_after_ms  # of this stretch of silence
        self._pending: concurrent.futures.Future[float] | None = None
        self.last_probability: float | None = None
        self.asked = 0  # model runs
        self.finished = 0  # turns it ended early
        self.failed = 0  # runs that raised (the cap decides then)

    def update(
        self,
        frame: AudioFrame,
        event: SpeechStarted | SpeechEnded | None,
        endpointer: Endpointer,
    ) -> SpeechStarted | SpeechEnded | None:
        """One frame and the endpointer's event for it -> the event to act on."""
        self._audio.append(frame)
        if event is not None or not endpointer.in_speech:
            self._forget()
            if isinstance(event, SpeechStarted):
                self._start = event.position
            return event
        if endpointer.silence_ms == 0:  # the caller goes on: a verdict would be stale
            self._forget()
            return None
        silence = endpointer.silence_ms
        if self._pending is None and silence >= self._next_ask_ms:
            every = self.config.end_of_turn_every_ms
            self._next_ask_ms = silence + every if every else self.config.end_of_turn_max_ms
            self.asked += 1
            start = max(self._start, frame.end - WINDOW_SECONDS * self.rate)
            audio = self._audio.slice(start, frame.end)
            self._pending = self._submit(functools.partial(self.model.probability, audio))
        if self._pending is None or not self._pending.done():
            return None
        future, self._pending = self._pending, None
        try:
            p = future.result()
        except Exception:
            self.failed += 1
            log.exception("end-of-turn model failed; waiting for the silence cap")
            return None
        self.last_probability = p
        if p < self.config.end_of_turn_threshold:
            return None
        self.finished += 1
        return endpointer.end_now(frame.end)

    def _forget(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        self._pending = None
        self._next_ask_ms = self.config.end_of_turn_after_ms


@functools.lru_cache(maxsize=4)
def _load(name: str, models_dir: str | None) -> TurnModel:
    from mediaserver.modelset import model_path
    from models.turn import SmartTurn

    directory = model_path(name, ModelsConfig(dir=models_dir or ""))
    model = SmartTurn(Path(directory))
    model.load()
    return model


def turn_model(vad: VadConfig, models: ModelsConfig) -> TurnModel | None:
    """The end-of-turn model [vad] asks for, loaded once per process (None: off).
    A missing or damaged model is a ModelError naming the install command."""
    if vad.end_of_turn == "off":
        return None
    return _load(vad.end_of_turn_model, models.dir or None)
