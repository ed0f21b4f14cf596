"""Whisper over several callers' utterances at once (what the inference
service's STT lane does under load): each gets what it would alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediaserver.harness import read_wav
from models import registry, store
from models.stt import WhisperSTT
from tests.speech import speak

pytestmark = pytest.mark.integration

SENTENCES = [
    "What time do you open on Saturday?",
    "I would like to book a cleaning.",
    "Is Doctor Patel in on Monday?",
]


@pytest.fixture(scope="module")
def stt() -> WhisperSTT:
    model = WhisperSTT(store.locate(registry.by_name("whisper-tiny.en")))
    model.load()
    return model


def test_a_batch_hears_each_utterance_as_it_is_heard_alone(stt: WhisperSTT, tmp_path: Path) -> None:
    clips: list[np.ndarray] = []
    for i, text in enumerate(SENTENCES):
        speak(text, tmp_path / f"{i}.wav")
        clips.append(read_wav(tmp_path / f"{i}.wav", 30))
    long = np.concatenate([clips[0], np.zeros(16000 * 9, np.int16), clips[1]])  # > the window
    prompts = [None, "Riverside Dental: a cleaning.", None, None]
    requests = [(clip, prompt, "en") for clip, prompt in zip([*clips, long], prompts, strict=True)]
    alone = [stt.transcribe(audio, prompt, language).text for audio, prompt, language in requests]
    together = [result.text for result in stt.transcribe_many(requests)]
    assert together == alone
    assert "saturday" in together[0].lower() and "cleaning" in together[1].lower()
