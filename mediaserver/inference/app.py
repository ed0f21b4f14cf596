"""`mediaserver inference`: the composition root of the inference service.
One process owns one copy of the models and serves them over OpenAI's API
to every media process of the box (services/remote.py is their client)."""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType

import uvicorn
from fastapi import FastAPI

from mediaserver import __version__
from mediaserver.config import Config
from mediaserver.inference import errors
from mediaserver.inference.engines import Engines
from mediaserver.inference.metrics import ServiceMetrics
from mediaserver.inference.routes import chat, embeddings, info, speech, transcriptions
from mediaserver.knowledge.embed import Embedders
from mediaserver.modelset import model_set

log = logging.getLogger("mediaserver.inference")


def create_app(engines: Engines, retry_after_seconds: int = 1) -> FastAPI:
    app = FastAPI(title="mediaserver inference", version=__version__)
    errors.install(app, engines.metrics, retry_after_seconds)
    for module in (transcriptions, chat, speech, embeddings, info):
        app.include_router(module.router(engines))
    return app


def engines_for(config: Config) -> Engines:
    """The models of [models], found and checked (ModelError if not), not loaded."""
    models = config.models
    return Engines(
        model_set(models),
        (models.stt, models.llm, models.tts),
        config.inference,
        ServiceMetrics(),
        Embedders(config.knowledge, models),
    )


def run(config: Config) -> None:
    """Load the models, then serve until SIGINT or SIGTERM."""
    engines = engines_for(config)
    models = config.models
    llm = f"{models.llm} at {models.llm_url}" if models.llm_elsewhere else models.llm
    log.info("loading models (%s, %s, %s on %s)", models.stt, llm, models.tts, models.device)
    engines.load()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(engines, config.inference.retry_after_seconds),
            host=config.inference.host,
            port=config.inference.port,
            log_level="info",
            access_log=False,
        )
    )
    log.info(
        "mediaserver inference %s: http://%s:%d/v1",
        __version__,
        config.inference.host,
        config.inference.port,
    )
    previous = signal.signal(signal.SIGTERM, _leave)
    try:
        asyncio.run(server.serve())
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        engines.close()
    if not server.started:
        raise OSError(f"could not listen on {config.inference.host}:{config.inference.port}")


def _leave(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (re-raised by uvicorn once it has shut down): leave like Ctrl-C."""
    raise KeyboardInterrupt
