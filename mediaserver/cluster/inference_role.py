"""The cluster's inference role: the models, once for the whole box, served
over OpenAI's API to every media worker (mediaserver/inference/). Started by
the supervisor when [models] backend is "local"; with "remote" the workers
use the engines at the configured URLs instead."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import uvicorn

from mediaserver.cluster.child import ChildHttp
from mediaserver.config import Config
from mediaserver.inference.app import create_app, engines_for

log = logging.getLogger(__name__)


def workers_config(config: Config) -> Config:
    """What the media workers run with: the local models become the cluster's
    inference service, reached over loopback HTTP."""
    if config.models.backend != "local":
        return config
    url = f"http://127.0.0.1:{config.inference.port}/v1"
    return dataclasses.replace(
        config, models=dataclasses.replace(config.models, backend="remote", url=url)
    )


class InferenceRole:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.engines = engines_for(config)  # ModelError now, before anything loads
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.engines.load)
        inference = self.config.inference
        server = self._server = ChildHttp(
            uvicorn.Config(
                create_app(self.engines, inference.retry_after_seconds),
                host="127.0.0.1",
                port=inference.port,
                log_level="warning",
                access_log=False,
            )
        )
        self._task = asyncio.create_task(server.serve())
        while not server.started:
            if self._task.done():
                raise OSError(f"inference could not listen on 127.0.0.1:{inference.port}")
            await asyncio.sleep(0.05)
        log.info("inference: http://127.0.0.1:%d/v1", inference.port)

    def calls(self) -> int:
        return 0

    def drain(self) -> None:
        pass  # calls in progress keep their models until the workers stop

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.gather(self._task, return_exceptions=True)
        self.engines.close()
