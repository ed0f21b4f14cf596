"""The three models a [models] config names, found and checked (not loaded):
what the in-process adapter (services/local.py) and the inference service
(inference/) both stand on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mediaserver.config_models import ModelsConfig
from models import registry, store
from models.llm import LlamaLLM
from models.stt import Device, WhisperSTT
from models.tts import PiperTTS


@dataclass(frozen=True, slots=True)
class ModelSet:
    stt: WhisperSTT
    llm: LlamaLLM | None  # None: the LLM is another server's ([models] llm_url)
    tts: PiperTTS


def model_path(name: str, config: ModelsConfig) -> Path:
    """A registry name -> its installed directory (checked); a path -> itself."""
    if "/" in name or name.startswith("."):
        path = Path(name).expanduser()
        if not path.exists():
            raise store.ModelError(f"model path {path} does not exist")
        return path
    try:
        model = registry.by_name(name)
    except KeyError as exc:
        raise store.ModelError(str(exc.args[0])) from None
    return store.locate(model, Path(config.dir) if config.dir else None)


def model_set(config: ModelsConfig, language: str = "en") -> ModelSet:
    """The models of `config`; ModelError if one is missing or damaged."""
    device: Device = "cuda" if config.device == "cuda" else "cpu"
    stt_dir = model_path(config.stt, config)
    llm = None
    if not config.llm_elsewhere:
        llm_path = model_path(config.llm, config)
        if llm_path.is_dir():
            llm_path = llm_path / "model.gguf"
        llm = LlamaLLM(llm_path, device, threads=config.llm_threads or None)
    tts_dir = model_path(config.tts, config)
    stt_language = "en" if config.stt.endswith(".en") else language
    return ModelSet(
        WhisperSTT(
            stt_dir,
            device,
            language=stt_language,
            beam_size=config.stt_beam_size,
            window_seconds=config.stt_window_seconds,
        ),
        llm,
        PiperTTS(tts_dir, device),
    )
