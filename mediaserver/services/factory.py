"""Building the speech services a config asks for."""

from __future__ import annotations

from mediaserver.config import ModelsConfig
from mediaserver.modelset import model_set
from mediaserver.services.local import LocalSpeech


def local_speech(config: ModelsConfig, language: str = "en", rate: int = 16000) -> LocalSpeech:
    """Models found and checked, not yet loaded (LocalSpeech.load does that)."""
    models = model_set(config, language)
    return LocalSpeech(models.stt, models.llm, models.tts, rate)
