"""`mediaserver talk`: a call from a WAV of the caller's side, in real time,
through the same session and engine as a live call."""

from __future__ import annotations

import asyncio
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mediaserver.agents import Agent
from mediaserver.config import VadConfig
from mediaserver.conversation.knowledge import Retrieval
from mediaserver.conversation.turns import Turn
from mediaserver.frames import FRAME_MS, AudioFrame
from mediaserver.media.end_of_turn import TurnModel
from mediaserver.session import RATE, Session
from mediaserver.speech import Speech
from native import resample

FRAME = RATE * FRAME_MS // 1000


class WavError(ValueError):
    """The caller's WAV cannot be used; the message says why."""


def read_wav(path: Path, max_seconds: float) -> np.ndarray:
    """The WAV's audio as 16 kHz mono int16 (8/16/32-bit PCM, any rate, any channels)."""
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            frames = w.getnframes()
            if frames > max_seconds * rate:
                raise WavError(
                    f"{path}: {frames / rate:.0f} s is longer than the {max_seconds:.0f} s allowed"
                )
            data = w.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise WavError(f"{path}: not a PCM WAV file ({exc})") from None
    except OSError as exc:
        raise WavError(f"{path}: {exc.strerror or exc}") from None
    if width == 1:
        pcm = (np.frombuffer(data, np.uint8).astype(np.int16) - 128) << 8
    elif width == 2:
        pcm = np.frombuffer(data, "<i2").astype(np.int16)
    elif width == 4:
        pcm = (np.frombuffer(data, "<i4") >> 16).astype(np.int16)
    else:
        raise WavError(f"{path}: {8 * width}-bit samples are not supported (8, 16 or 32-bit PCM)")
    if pcm.size == 0:
        raise WavError(f"{path}: holds no audio")
    if channels > 1:
        pcm = (
            pcm[: pcm.size // channels * channels]
            .reshape(-1, channels)
            .mean(axis=1)
            .astype(np.int16)
        )
    try:
        converter = resample.resampler(rate, RATE)
    except ValueError as exc:
        raise WavError(f"{path}: sample rate {rate} Hz is not supported ({exc})") from None
    return converter.process(pcm).copy()


def write_wav(path: Path, pcm: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


@dataclass
class TalkResult:
    turns: list[Turn]
    agent_audio: np.ndarray
    history: list[dict[str, str]]

    def as_dict(self) -> dict[str, object]:
        return {"turns": [t.as_dict() for t in self.turns]}


async def talk(
    caller: np.ndarray,
    agent: Agent,
    speech: Speech,
    vad: VadConfig,
    *,
    at: float | None = None,
    tail_seconds: float = 30.0,
    turn_model: TurnModel | None = None,
    retrieval: Retrieval | None = None,
) -> TalkResult:
    """Play `caller` (16 kHz) into a session, 20 ms at a time on the loop's clock.

    The caller starts once the greeting has played, or `at` seconds in.
    The call ends when the caller is done and the agent has been quiet for a
    second (or `tail_seconds` after the caller, at most)."""
    session = Session(agent, speech, vad, turn_model=turn_model, retrieval=retrieval)
    session.start()
    loop = asyncio.get_running_loop()
    start = loop.time()
    out: list[np.ndarray] = []
    caller_from: int | None = None if at is None else round(at * 1000 / FRAME_MS)
    quiet_ticks = 0
    tick = 0
    try:
        while True:
            busy = session.engine.busy
            if caller_from is None and not busy and tick > 0:
                caller_from = tick
            offset = (tick - caller_from) * FRAME if caller_from is not None else -1
            samples = np.zeros(FRAME, np.int16)
            if 0 <= offset < caller.size:
                chunk = caller[offset : offset + FRAME]
                samples[: chunk.size] = chunk
            out.append(session.tick(AudioFrame(samples, RATE, tick * FRAME)).copy())
            caller_done = offset >= caller.size
            quiet_ticks = (
                quiet_ticks + 1
                if caller_done and not busy and not session.vad.endpointer.in_speech
                else 0
            )
            if quiet_ticks >= 1000 // FRAME_MS or (
                caller_done and offset - caller.size > tail_seconds * RATE
            ):
                break
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * FRAME_MS / 1000 - loop.time()))
    finally:
        await session.close()
    return TalkResult(session.engine.turns, np.concatenate(out), session.engine.history.entries)
