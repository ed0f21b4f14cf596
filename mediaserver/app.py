"""The composition root: builds the object graph from a Config and runs it."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from types import FrameType

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
    from mediaserver.agents import DEFAULT_AGENT, configured
    from mediaserver.calls import SipCalls
    from mediaserver.services.factory import local_speech
    from mediaserver.transports.sip import SipServer

    loop = asyncio.get_running_loop()
    agent = configured(DEFAULT_AGENT, config.agent)
    speech = local_speech(config.models, agent.language)
    log.info(
        "loading models (%s, %s, %s on %s)",
        config.models.stt,
        config.models.llm,
        config.models.tts,
        config.models.device,
    )
    await loop.run_in_executor(None, speech.load, agent.system_prompt, agent.greeting)
    calls = SipCalls(agent, speech, config.vad, Path(config.server.data_dir))
    sip = SipServer(config.sip, config.server.host, config.server.sip_port, calls, loop)
    calls.server = sip
    await sip.start()
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
        "mediaserver %s: http://%s:%d, SIP on port %d",
        __version__,
        config.server.host,
        config.server.http_port,
        config.server.sip_port,
    )
    try:
        await http.serve()
    except SystemExit:  # uvicorn's way of saying that start-up failed
        http.started = False
    finally:
        await calls.close()
        await sip.stop()
        speech.close()
    if not http.started:
        raise OSError(f"could not listen on {config.server.host}:{config.server.http_port}")


class _Stop(Exception):
    """SIGTERM arrived: leave like Ctrl-C does."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run(config: Config) -> None:
    """Serve until SIGINT or SIGTERM; both end the process normally (exit 0).

    uvicorn shuts down on either signal and then re-raises it to the handler
    that was there before: this one, so SIGTERM is not a kill.
    """
    Path(config.server.data_dir).mkdir(parents=True, exist_ok=True)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        asyncio.run(serve(config))
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
