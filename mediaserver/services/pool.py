"""One set of loaded models per distinct (STT, LLM, voice) choice of the
agents: an agent that names other models than the server's gets them,
loaded once on its first call and shared by every call that needs them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from mediaserver.agents import Agent
from mediaserver.config import ModelsConfig
from mediaserver.services.factory import local_speech
from mediaserver.services.local import LocalSpeech
from models.store import ModelError

log = logging.getLogger(__name__)

Choice = tuple[str, str, str]  # stt, llm, tts (registry names or paths)


class SpeechPool:
    def __init__(self, config: ModelsConfig, default: LocalSpeech) -> None:
        self.config = config
        self.default_choice: Choice = (config.stt, config.llm, config.tts)
        self._speech: dict[Choice, LocalSpeech] = {self.default_choice: default}
        self._loading: dict[Choice, asyncio.Lock] = {}

    @staticmethod
    def choice(agent: Agent) -> Choice:
        return (agent.stt_model, agent.llm_model, agent.voice)

    async def for_agent(self, agent: Agent) -> LocalSpeech:
        """The agent's models, loaded (off the loop) on first use; the server's
        own if the agent's cannot be found (the call goes on, logged)."""
        choice = self.choice(agent)
        if (speech := self._speech.get(choice)) is not None:
            return speech
        async with self._loading.setdefault(choice, asyncio.Lock()):
            if (speech := self._speech.get(choice)) is not None:
                return speech
            stt, llm, tts = choice
            models = dataclasses.replace(self.config, stt=stt, llm=llm, tts=tts)
            try:
                speech = local_speech(models, agent.language)
            except ModelError as exc:
                log.error("agent %s: %s; using the server's models", agent.name, exc)
                return self._speech[self.default_choice]
            log.info("agent %s: loading models %s, %s, %s", agent.name, stt, llm, tts)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, speech.load, agent.system_prompt, agent.greeting)
            self._speech[choice] = speech
            return speech

    def refusal(self) -> str | None:
        return None  # in-process models: every call waits its turn

    def close(self) -> None:
        for speech in self._speech.values():
            speech.close()

    async def aclose(self) -> None:
        self.close()
