"""The composition root: builds the object graph from a Config and runs it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from mediaserver import __version__
from mediaserver.api import health
from mediaserver.config import Config

log = logging.getLogger("mediaserver")


def create_http_app(config: Config) -> FastAPI:
    app = FastAPI(title="mediaserver", version=__version__)
    app.include_router(health.router)
    return app


async def serve(config: Config) -> None:
    """Run the server until SIGINT or SIGTERM."""
    Path(config.server.data_dir).mkdir(parents=True, exist_ok=True)
    http = uvicorn.Server(
        uvicorn.Config(
            create_http_app(config),
            host=config.server.host,
            port=config.server.http_port,
            log_level="info",
            access_log=False,
        )
    )
    log.info(
        "mediaserver %s: http://%s:%d (SIP on port %d arrives with the SIP issue)",
        __version__,
        config.server.host,
        config.server.http_port,
        config.server.sip_port,
    )
    await http.serve()
    if not http.started:
        raise OSError(f"could not listen on {config.server.host}:{config.server.http_port}")


def run(config: Config) -> None:
    asyncio.run(serve(config))
