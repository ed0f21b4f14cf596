"""Building the speech services a config asks for."""

from __future__ import annotations

from mediaserver.config import ModelsConfig
from mediaserver.modelset import model_set
from mediaserver.services.local import LocalSpeech
from models.store import ModelError


def local_speech(config: ModelsConfig, language: str = "en", rate: int = 16000) -> LocalSpeech:
    """Models found and checked, not yet loaded (LocalSpeech.load does that)."""
    models = model_set(config, language)
    if models.llm is None:
        raise ModelError(
            f'[models] llm_url ({config.llm_url}) with backend "local" is for a cluster\'s '
            "inference role and `mediaserver inference`: a single process loads its own LLM; "
            'set backend = "remote" with url (the STT and TTS) and llm_url, or [cluster] workers'
        )
    # on a GPU the models do not share the CPU's cores (mediaserver/cores.py)
    share_cores = config.device == "cpu"
    return LocalSpeech(models.stt, models.llm, models.tts, rate, share_cores=share_cores)
