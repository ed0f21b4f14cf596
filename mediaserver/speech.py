"""The Speech port: the seam between a call and the models (transcribe, a
reply's token stream, synthesize). The turn engine uses it; the local adapter
(services/local.py), the HTTP client (services/remote.py) and the inference
service (inference/) implement or serve it. Imports only frames.

Audio crossing the port is an AudioFrame, so it always says its rate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from mediaserver.frames import AudioFrame

Message = dict[str, str]  # {"role": "system" | "user" | "assistant" | "tool", "content": ...}
ToolSpec = dict[str, Any]  # an OpenAI `tools` entry: {"type": "function", "function": {...}}


class SpeechError(Exception):
    """A model could not answer. `retryable`: whether asking again may help
    (the service is busy, restarting or unreachable) or not (it answered
    something that cannot be used)."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class Unavailable(SpeechError):
    """Unreachable, overloaded (429/503) or gone mid-stream: try again later."""

    retryable = True


class TimedOut(SpeechError):
    """No answer (or no next piece of it) within the deadline."""

    retryable = True


class BadResponse(SpeechError):
    """An answer that cannot be used: malformed stream, wrong audio, a 4xx."""

    retryable = False


class Speech(Protocol):
    async def transcribe(
        self, audio: AudioFrame, language: str | None = None, prompt: str | None = None
    ) -> str:
        """Text of the caller's audio (in `language`, if given; `prompt`: text
        the caller's words are likely to resemble)."""
        ...

    def reply(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        *,
        tools: list[ToolSpec] | None = None,
    ) -> AsyncIterator[str]:
        """The agent's answer as text pieces, as they are generated. Closing the
        iterator stops the generation. `tools`: what the model may call (its
        chat template renders them; a call comes back as text, Qwen's
        `<tool_call>{...}</tool_call>`; "tool" messages carry the answers)."""
        ...

    async def synthesize(self, text: str, *, first: bool = False) -> AudioFrame:
        """The audio of `text` (at the rate the adapter was built for; the frame
        says it). `first`: the first clause of a reply, which the caller is
        waiting for (a scheduler may put it before other replies' later ones)."""
        ...
