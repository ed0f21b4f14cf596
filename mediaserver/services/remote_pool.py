"""Every agent's models over HTTP ([models] backend = "remote"): one client
(one connection pool) for all calls, the phrases a call may need before any
model answers (greeting, re-prompt, the fallback said when the service is
gone) kept ready as audio, and the service's saturation watched so that new
calls are refused while it lasts instead of slowing the calls in progress."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Coroutine
from typing import Any

import httpx

from mediaserver.agents import Agent
from mediaserver.config_models import ModelsConfig
from mediaserver.services.remote import RemoteSpeech
from mediaserver.speech import SpeechError

log = logging.getLogger(__name__)

Choice = tuple[str, str, str]  # stt, llm, tts names
PRIME_RETRY_S = 2.0
WATCH_S = 1.0  # how often /healthz is asked whether the service is saturated


class RemotePool:
    def __init__(self, config: ModelsConfig, rate: int = 16000) -> None:
        self.config = config
        self.rate = rate
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        timeout = config.timeout_seconds
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(2.0, timeout)),
            headers=headers,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
        self._speech: dict[Choice, RemoteSpeech] = {}
        self._primed: set[tuple[int, str]] = set()  # (id of a RemoteSpeech, phrase)
        self._tasks: set[asyncio.Task[object]] = set()
        self._saturated_until = 0.0
        self._all: tuple[RemoteSpeech, ...] = ()

    async def for_agent(self, agent: Agent) -> RemoteSpeech:
        speech = self._speech_for(agent)
        self.prime(speech, agent)
        return speech

    def _speech_for(self, agent: Agent) -> RemoteSpeech:
        choice = (agent.stt_model, agent.llm_model, agent.voice)
        if (speech := self._speech.get(choice)) is None:
            models = dataclasses.replace(self.config, stt=choice[0], llm=choice[1], tts=choice[2])
            speech = self._speech[choice] = RemoteSpeech(models, self.client, self.rate)
            self._all = (*self._all, speech)  # replaced whole: read from SIP's thread
        return speech

    async def start(self, agent: Agent) -> None:
        """Watch the service; have the default agent's phrases ready as audio
        (waiting for them up to the request deadline: a service not up yet
        gets them later, in the background)."""
        roots = {self.config.endpoint(role).removesuffix("/v1") for role in ("stt", "llm", "tts")}
        for root in sorted(roots):
            self._spawn(self._watch(f"{root}/healthz"))
        if (priming := self.prime(self._speech_for(agent), agent)) is not None:
            await asyncio.wait({priming}, timeout=self.config.timeout_seconds)

    def prime(self, speech: RemoteSpeech, agent: Agent) -> asyncio.Task[object] | None:
        """Voice the agent's fixed phrases once (in the background)."""
        phrases = [p for p in (agent.greeting, agent.fallback, agent.reprompt) if p]
        missing = [p for p in phrases if (id(speech), p) not in self._primed]
        if not missing:
            return None
        self._primed.update((id(speech), p) for p in missing)
        return self._spawn(self._prime(speech, missing))

    async def _prime(self, speech: RemoteSpeech, phrases: list[str]) -> None:
        while True:
            try:
                await speech.prime(phrases)
                return
            except SpeechError as exc:
                log.warning("the inference service cannot voice the fixed phrases yet: %s", exc)
                await asyncio.sleep(PRIME_RETRY_S)

    async def _watch(self, url: str) -> None:
        """Ask a service's /healthz whether a model is saturated (503). An
        engine without one (vLLM, llama-server answer 404) is not watched."""
        while True:
            try:
                response = await self.client.get(url, timeout=WATCH_S)
                if response.status_code == 404:
                    return
                if response.status_code == 503:
                    self._saturated_until = time.monotonic() + 2 * WATCH_S
            except httpx.HTTPError:
                pass  # down: its calls say the fallback phrase; counted there
            await asyncio.sleep(WATCH_S)

    def refusal(self) -> str | None:
        """Why a new call must be refused now (None: it may come in); safe
        from any thread."""
        now = time.monotonic()
        if now < self._saturated_until or any(s.saturated for s in self._all):
            return "the inference service is saturated"
        return None

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()
