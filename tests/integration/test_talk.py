"""The conversation on real small models (tiny.en, Qwen 0.5B, Piper joe) in
real time, through the offline harness: the same session as a live call."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mediaserver.agents import DEFAULT_AGENT
from mediaserver.config import ModelsConfig, VadConfig
from mediaserver.harness import TalkResult, read_wav, talk, write_wav
from mediaserver.services.factory import local_speech
from mediaserver.services.local import LocalSpeech
from tests.speech import speak

pytestmark = pytest.mark.integration
RATE = 16000
AGENT = DEFAULT_AGENT.deterministic()


@pytest.fixture(scope="module")
def speech() -> Iterator[LocalSpeech]:
    s = local_speech(ModelsConfig())
    s.load(AGENT.system_prompt, AGENT.greeting)
    yield s
    s.close()


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def caller_wav(tmp_path: Path, text: str, lead: float = 0.5, tail: float = 0.5) -> np.ndarray:
    audio, rate = speak(text, tmp_path / "caller.wav")
    padded = np.concatenate(
        [np.zeros(int(lead * rate), np.int16), audio, np.zeros(int(tail * rate), np.int16)]
    )
    write_wav(tmp_path / "padded.wav", padded, rate)
    return read_wav(tmp_path / "padded.wav", 120)


def run(speech: LocalSpeech, caller: np.ndarray, at: float | None = None) -> TalkResult:
    return asyncio.run(talk(caller, AGENT, speech, VadConfig(), at=at))


def transcribe(speech: LocalSpeech, audio: np.ndarray) -> str:
    return speech.stt.transcribe(audio).text


def voiced_spans(audio: np.ndarray, threshold: int = 300) -> np.ndarray:
    """Indices of 20 ms frames with sound in them."""
    frames = audio[: audio.size // 320 * 320].reshape(-1, 320)
    return np.flatnonzero(np.abs(frames).max(axis=1) > threshold)


def test_a_spoken_question_is_heard_answered_and_the_answer_is_speech(
    speech: LocalSpeech, tmp_path: Path
) -> None:
    caller = caller_wav(tmp_path, "What time do you open on Saturday?")
    result = run(speech, caller)
    (turn,) = result.turns
    assert {"open", "saturday"} <= words(turn.user_text)
    assert turn.agent_text and not turn.interrupted
    assert turn.voice_to_voice_ms is not None and turn.voice_to_voice_ms > 0
    stages = turn.timings_ms
    assert (
        stages["speech_end"]
        <= stages["stt_done"]
        <= stages["first_token"]
        <= stages["first_audio_out"]
    )
    # the greeting comes first, and says who answers
    greeting_frames = voiced_spans(result.agent_audio)
    assert greeting_frames[0] * 0.02 < 1.5
    greeting_end = int(len(DEFAULT_AGENT.greeting.split()) * 0.45 * RATE)
    assert "riverside" in transcribe(speech, result.agent_audio[:greeting_end]).lower()
    # the reply is real speech that says what the turn says
    reply_start = int(stages["first_audio_out"] / 1000 * RATE) + caller.size  # past the question
    spoken = transcribe(speech, result.agent_audio[reply_start - caller.size // 2 :])
    key = {w for w in words(turn.agent_text) if len(w) > 3}
    assert len(key & words(spoken)) >= len(key) // 2, (turn.agent_text, spoken)


def test_talking_over_the_agent_cuts_it_within_300ms_and_keeps_what_was_heard(
    speech: LocalSpeech, tmp_path: Path
) -> None:
    caller = caller_wav(tmp_path, "Sorry, can you tell me your address please?", lead=0.0)
    at = 1.0  # a second into the greeting
    result = run(speech, caller, at=at)
    onset = at + voiced_spans(caller)[0] * 0.02
    after = result.agent_audio[int((onset + 0.3) * RATE) : int((onset + 1.5) * RATE)]
    assert np.abs(after).max() < 300, "the agent was still talking 300 ms after the caller started"
    heard = speech_history(result)[0]["content"]
    assert DEFAULT_AGENT.greeting.startswith(heard) and heard != DEFAULT_AGENT.greeting
    assert any({"address"} <= words(t.user_text) for t in result.turns)


def speech_history(result: TalkResult) -> list[dict[str, str]]:
    return [e for e in result.history if e["role"] == "assistant"]


def test_a_backchannel_does_not_cut_the_agent(speech: LocalSpeech, tmp_path: Path) -> None:
    caller = caller_wav(tmp_path, "Okay.", lead=0.0, tail=0.0)
    result = run(speech, caller, at=1.0)
    assistant = speech_history(result)
    assert assistant[0]["content"] == DEFAULT_AGENT.greeting
    assert not any(t.interrupted for t in result.turns)


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        ("silent", "no turns"),
        ("noise", "no turns"),
        ("clipped", "a turn"),
        ("eight_bit", "a turn"),
    ],
)
def test_odd_caller_audio_gets_a_sensible_result(
    speech: LocalSpeech, tmp_path: Path, make: str, expect: str
) -> None:
    rate = 16000
    if make == "silent":
        caller = np.zeros(rate * 3, np.int16)
    elif make == "noise":
        caller = np.random.default_rng(0).normal(0, 300, rate * 3).astype(np.int16)
    else:
        speech_audio = caller_wav(tmp_path, "Where are you located?")
        if make == "clipped":
            caller = np.clip(speech_audio.astype(np.int32) * 4, -32768, 32767).astype(np.int16)
        else:
            path = tmp_path / "eight.wav"
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(1)
                w.setframerate(rate)
                w.writeframes(((speech_audio >> 8) + 128).astype(np.uint8).tobytes())
            caller = read_wav(path, 120)
    result = run(speech, caller)
    if expect == "no turns":
        assert [t for t in result.turns if t.user_text] == []
    else:
        assert any(
            "located" in words(t.user_text) or "where" in words(t.user_text) for t in result.turns
        )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a PCM WAV"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "not a PCM WAV"),
        ("empty", "holds no audio"),
        ("long", "longer than the 120 s allowed"),
        ("24bit", "24-bit samples are not supported"),
    ],
)
def test_bad_wavs_are_clear_errors_not_hangs(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "in.wav"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(3 if content == "24bit" else 2)
            w.setframerate(8000)
            seconds = 181 if content == "long" else 1
            w.writeframes(b"" if content == "empty" else bytes(8000 * seconds * w.getsampwidth()))
    proc = subprocess.run(
        [sys.executable, "-m", "mediaserver", "talk", "--in", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
