"""bench.turns' caller turns through the real endpointing, frame by frame on
a virtual clock: the VAD (webrtcvad or Silero), noise gate, endpointer and
Smart Turn, whose verdict takes effect as many frames later as its run took."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import time
from collections.abc import Callable

import numpy as np

from bench.turns_audio import RATE, Clip
from mediaserver.config import VadConfig
from mediaserver.events import SpeechEnded, SpeechStarted
from mediaserver.frames import AudioFrame
from mediaserver.media.end_of_turn import EndOfTurn
from mediaserver.media.vad import VoiceActivity
from models.turn import SmartTurn

FRAME = RATE // 50


class Remembered:
    """Smart Turn, each window it hears run once across configurations; the
    wall and CPU time of every real run kept."""

    def __init__(self, model: SmartTurn) -> None:
        self.model = model
        self._verdicts: dict[bytes, tuple[float, float]] = {}
        self.wall_s: list[float] = []
        self.cpu_s: list[float] = []

    def probability(self, audio: np.ndarray) -> float:
        return self.timed(audio)[0]

    def timed(self, audio: np.ndarray) -> tuple[float, float]:
        """P(finished) and the seconds its run took."""
        key = hashlib.blake2b(audio.tobytes(), digest_size=16).digest()
        if key not in self._verdicts:
            wall, cpu = time.perf_counter(), time.thread_time()  # onnxruntime runs on this thread
            p = self.model.probability(audio)
            self.cpu_s.append(time.thread_time() - cpu)
            self.wall_s.append(time.perf_counter() - wall)
            # a verdict is late by the model's CPU time: what it takes on a free core
            # (the wall time here is mostly other processes sharing the cores)
            self._verdicts[key] = (p, self.cpu_s[-1])
        return self._verdicts[key]


class FrameDelayed:
    """Submit for EndOfTurn: the model runs now; its verdict becomes visible as
    many 20 ms frames later as the run took (its CPU time)."""

    def __init__(self, model: Remembered) -> None:
        self.model = model
        self.frame = 0
        self.waiting: list[tuple[int, concurrent.futures.Future[float], float]] = []

    def __call__(self, fn: Callable[[], float]) -> concurrent.futures.Future[float]:
        audio = fn.args[0]  # type: ignore[attr-defined]  # functools.partial(probability, audio)
        p, took = self.model.timed(audio)
        future: concurrent.futures.Future[float] = concurrent.futures.Future()
        self.waiting.append((self.frame + 1 + int(took * 50), future, p))
        return future

    def tick(self) -> None:
        self.frame += 1
        for item in [w for w in self.waiting if w[0] <= self.frame]:
            self.waiting.remove(item)
            if not item[1].cancelled():
                item[1].set_result(item[2])


@dataclasses.dataclass
class Outcome:
    commits: list[tuple[int, SpeechEnded]]  # (sample at which it was decided, the event)
    starts: list[int]  # where the voice came back (the endpointer's start, preroll added back)
    heard: list[int]  # the sample at which each start was heard (the engine holds the agent then)


def endpoint(clip: Clip, vad: VadConfig, model: Remembered) -> Outcome:
    eot = None
    delayed = FrameDelayed(model)
    if vad.end_of_turn != "off":
        eot = EndOfTurn(vad, RATE, model, submit=delayed)
        vad = dataclasses.replace(vad, end_ms=vad.end_of_turn_max_ms)
    activity = VoiceActivity(vad, RATE)
    commits: list[tuple[int, SpeechEnded]] = []
    starts: list[int] = []
    heard: list[int] = []
    for pos in range(0, clip.audio.size - FRAME + 1, FRAME):
        delayed.tick()
        frame = AudioFrame(clip.audio[pos : pos + FRAME], RATE, pos)
        event = activity.process(frame)
        if eot is not None:
            event = eot.update(frame, event, activity.endpointer)
        if isinstance(event, SpeechEnded) and not event.too_short:
            commits.append((frame.end, event))
        elif isinstance(event, SpeechStarted):
            starts.append(event.position + vad.preroll_ms * RATE // 1000)
            heard.append(frame.end)
    return Outcome(commits, starts, heard)
