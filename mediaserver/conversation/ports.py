"""What the turn engine needs from the rest of the server: small protocols,
implemented by services/ (the models) and native/ (the playout buffer),
and by fakes in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import numpy as np

Message = dict[str, str]


class Speech(Protocol):
    async def transcribe(
        self, audio: np.ndarray, language: str | None = None, prompt: str | None = None
    ) -> str:
        """Text of int16 audio at the engine's rate (in `language`, if given;
        `prompt`: text the caller's words are likely to resemble)."""
        ...

    def reply(
        self, messages: list[Message], max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        """The agent's answer as text pieces, as they are generated."""
        ...

    async def synthesize(self, text: str) -> np.ndarray:
        """int16 audio of `text` at the engine's rate."""
        ...


class Playout(Protocol):
    @property
    def buffered(self) -> int: ...

    @property
    def free(self) -> int: ...

    def write(self, pcm: np.ndarray, utterance: int = 0) -> int: ...

    def clear(self) -> int: ...

    def played(self, utterance: int) -> int: ...
