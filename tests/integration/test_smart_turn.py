"""Smart Turn v3.2, the real model: its verdicts on espeak-ng callers, a
spoken call with a pause mid-sentence, and a missing or damaged model."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from mediaserver.agents import DEFAULT_AGENT
from mediaserver.config import ModelsConfig, VadConfig
from mediaserver.frames import AudioFrame
from mediaserver.harness import talk
from mediaserver.media.end_of_turn import turn_model
from mediaserver.speech import Message
from models import registry, store
from models.turn import SmartTurn
from native import resample
from tests.speech import speak

pytestmark = pytest.mark.integration
RATE = 16000
MODEL = registry.by_name("smart-turn-v3.2")
ON = VadConfig(end_of_turn="smart-turn")
INSTALL = re.escape("python -m models install smart-turn-v3.2")


@pytest.fixture(scope="module")
def model() -> SmartTurn:
    m = SmartTurn(store.locate(MODEL))
    m.load()
    return m


def caller(tmp_path: Path, text: str, silence: float = 0.2) -> np.ndarray:
    """espeak-ng at 16 kHz, then `silence` seconds (what the model hears when asked)."""
    audio, rate = speak(text, tmp_path / "caller.wav")
    audio = resample.resampler(rate, RATE).process(audio)
    return np.concatenate([audio, np.zeros(int(silence * RATE), np.int16)]).astype(np.int16)


@pytest.mark.parametrize("text", ["What time do you open tomorrow?", "Do you take new patients?"])
def test_a_finished_question_is_finished(model: SmartTurn, tmp_path: Path, text: str) -> None:
    assert model.probability(caller(tmp_path, text)) > 0.9


@pytest.mark.parametrize(
    "text", ["I would like to book a cleaning for, um", "I was wondering if you could, uh"]
)
def test_a_trailing_filler_is_not_finished(model: SmartTurn, tmp_path: Path, text: str) -> None:
    assert model.probability(caller(tmp_path, text)) < 0.1


class Listener:
    """Speech that hears every utterance as one word per second and answers "Sure."."""

    def __init__(self) -> None:
        self.heard: list[float] = []

    async def transcribe(
        self, audio: AudioFrame, language: str | None = None, prompt: str | None = None
    ) -> str:
        await asyncio.sleep(0.05)
        seconds = audio.samples.size / audio.rate
        self.heard.append(seconds)
        return " ".join(["word"] * max(1, round(seconds)))

    async def reply(
        self, messages: list[Message], max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        yield "Sure."

    async def synthesize(self, text: str, *, first: bool = False) -> AudioFrame:
        return AudioFrame(np.zeros(RATE // 2, np.int16), RATE)


def spoken_call(
    tmp_path: Path, vad: VadConfig, model: SmartTurn | None
) -> tuple[int, float, float]:
    """A caller who pauses 900 ms mid-sentence: the turns the agent took, the
    longest utterance it answered, and the caller's whole sentence (seconds)."""
    first = caller(tmp_path, "I would like to book a cleaning for, um", silence=0.9)
    rest = caller(tmp_path, "next Tuesday morning, please.", silence=0.5)
    audio = np.concatenate([first, rest])
    listener = Listener()
    result = asyncio.run(
        talk(audio, DEFAULT_AGENT.deterministic(), listener, vad, at=0.5, turn_model=model)
    )
    turns = len([t for t in result.turns if t.user_text])
    return turns, max(listener.heard), (audio.size - 0.5 * RATE) / RATE


def test_a_pause_mid_sentence_is_not_cut_off(model: SmartTurn, tmp_path: Path) -> None:
    turns, _, _ = spoken_call(tmp_path, VadConfig(), None)
    assert turns == 2  # today's endpointer cuts it
    turns, longest, sentence = spoken_call(tmp_path, ON, model)
    assert turns == 1 and longest >= sentence - 0.3  # all of it, in one turn


def test_a_missing_model_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(store.ModelError, match=INSTALL):
        turn_model(ON, ModelsConfig(dir=str(tmp_path)))


def test_a_damaged_model_names_the_install_command(tmp_path: Path) -> None:
    copy = tmp_path / MODEL.name
    shutil.copytree(store.locate(MODEL), copy)
    with pytest.raises(store.ModelError, match=INSTALL):
        (copy / "model.onnx").write_bytes(b"\0" * 1000)
        store.locate(MODEL, tmp_path)
    with pytest.raises(store.ModelError, match=INSTALL):
        SmartTurn(copy).load()  # onnxruntime cannot read it either


def test_serve_will_not_start_without_the_model(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for installed in store.default_dir().iterdir():
        if installed.name != MODEL.name:
            (models / installed.name).symlink_to(installed)
    config = tmp_path / "server.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n[models]\ndir = "{models}"\n'
        '[vad]\nend_of_turn = "smart-turn"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "mediaserver", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "python -m models install smart-turn-v3.2" in done.stderr
