"""The bundled Whisper on real espeak-ng speech: the short encoder window
hears what Whisper's own 30 s window hears, and long audio still works."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bench.stt_accuracy import phone_line
from mediaserver.agents import DEFAULT_AGENT
from mediaserver.config import ConfigError, ModelsConfig
from mediaserver.harness import read_wav
from models import registry, store
from models.stt import WhisperSTT, without_repeats
from tests.speech import speak

pytestmark = pytest.mark.integration


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


@pytest.fixture(scope="module")
def path() -> Path:
    return store.locate(registry.by_name("whisper-tiny.en"))


@pytest.fixture
def question(tmp_path: Path) -> np.ndarray:
    speak("What time do you open on Saturday?", tmp_path / "q.wav")
    return read_wav(tmp_path / "q.wav", 60)


@pytest.mark.parametrize("window", [30, 10, 4])
def test_a_question_is_heard_in_any_window(path: Path, question: np.ndarray, window: int) -> None:
    stt = WhisperSTT(path, beam_size=1, window_seconds=window)
    heard = words(stt.transcribe(question).text)
    assert {"open", "saturday"} <= heard, heard


def test_audio_longer_than_the_window_is_heard_whole(
    path: Path, question: np.ndarray, tmp_path: Path
) -> None:
    speak("Where are you located?", tmp_path / "w.wav")
    speak("How much is a cleaning?", tmp_path / "h.wav")
    gap = np.zeros(16000 * 2, np.int16)
    where, how = (read_wav(tmp_path / f"{n}.wav", 60) for n in ("w", "h"))
    long = np.concatenate([question, gap, where, gap, how])  # about 8 s
    stt = WhisperSTT(path, beam_size=1, window_seconds=3)
    heard = words(stt.transcribe(long).text)
    assert {"saturday", "located", "cleaning"} <= heard, heard


def test_a_prompt_is_accepted_in_the_short_window(path: Path, question: np.ndarray) -> None:
    stt = WhisperSTT(path, beam_size=1, window_seconds=10)
    heard = words(stt.transcribe(question, prompt="Riverside Dental, opening hours.").text)
    assert "saturday" in heard, heard


def test_the_agents_vocabulary_makes_its_words_heard_on_a_phone_line(
    path: Path, tmp_path: Path
) -> None:
    speak("Can you move my check-up to Monday afternoon?", tmp_path / "c.wav")
    audio = phone_line(read_wav(tmp_path / "c.wav", 60), 16000)
    stt = WhisperSTT(path, beam_size=5, window_seconds=10)
    assert "check" not in words(stt.transcribe(audio).text)  # espeak's "check-up" is misheard
    heard = words(stt.transcribe(audio, prompt=DEFAULT_AGENT.stt_prompt).text)
    assert {"check", "monday", "afternoon"} <= heard, heard


def test_a_sentence_written_twice_in_a_row_is_kept_once() -> None:
    assert without_repeats("Where can I park? Where can I park?") == "Where can I park?"
    assert without_repeats("Okay. okay. Okay. Is it open?") == "Okay. Is it open?"
    assert without_repeats("Five, five, five.") == "Five, five, five."
    assert without_repeats("Yes. No. Yes.") == "Yes. No. Yes."


def test_a_window_out_of_range_is_refused(path: Path) -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        WhisperSTT(path, window_seconds=0)
    with pytest.raises(ConfigError, match="stt_window_seconds"):
        ModelsConfig(stt_window_seconds=31)
