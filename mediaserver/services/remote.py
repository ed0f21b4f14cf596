"""The Speech port over HTTP: OpenAI's transcription, streamed chat and
speech endpoints, as served by `mediaserver inference`, vLLM or llama.cpp's
llama-server. Every request has a deadline (and a stream one between two
pieces); closing a reply closes its stream, which stops the generation in
the engine; failures are typed (mediaserver.speech) and say whether asking
again may help. A connection refused is retried once, and every request
takes a fresh connection if the pooled one died: the service may restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

import httpx
import numpy as np

from mediaserver import wav
from mediaserver.config_models import ModelsConfig
from mediaserver.frames import AudioFrame
from mediaserver.speech import BadResponse, Message, SpeechError, TimedOut, Unavailable
from native import resample

SPOKEN_CACHE_SIZE = 64  # phrases kept as audio: greetings, the fallback, re-prompts
MIN_RATE, MAX_RATE = 8000, 48000
CONNECT_RETRY_S = 0.2


class RemoteSpeech:
    def __init__(
        self,
        config: ModelsConfig,
        client: httpx.AsyncClient,
        rate: int = 16000,
    ) -> None:
        self.urls = {role: config.endpoint(role) for role in ("stt", "llm", "tts")}
        self.names = {"stt": config.stt, "llm": config.llm, "tts": config.tts}
        self.voice = config.voice or config.tts
        self.timeout = config.timeout_seconds
        self.rate = rate
        self.client = client
        self.saturated_until = 0.0  # monotonic: a 429/503 said to come back then
        self._spoken: OrderedDict[str, AudioFrame] = OrderedDict()

    @property
    def saturated(self) -> bool:
        return time.monotonic() < self.saturated_until

    # -- the port -------------------------------------------------------------------
    async def transcribe(
        self, audio: AudioFrame, language: str | None = None, prompt: str | None = None
    ) -> str:
        url = f"{self.urls['stt']}/audio/transcriptions"
        data = {"model": self.names["stt"], "response_format": "json"}
        if language:
            data["language"] = language
        if prompt:
            data["prompt"] = prompt
        files = {"file": ("audio.wav", wav.encode(audio.samples, audio.rate), "audio/wav")}
        with self._errors("transcription", url):
            async with asyncio.timeout(self.timeout):
                response = await self._post(url, data=data, files=files)
        body = self._json(response, "transcription")
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise BadResponse(f"transcription: no text in {_excerpt(response.text)}")
        return str(body["text"])

    async def reply(
        self,
        messages: list[Message],
        max_tokens: int,
        temperature: float,
        *,
        tools: list[dict[str, Any]] | None = None,
    ) -> AsyncIterator[str]:
        url = f"{self.urls['llm']}/chat/completions"
        body: dict[str, Any] = {
            "model": self.names["llm"],
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if tools:
            body["tools"] = tools
        # Leaving (the end, an error, or the consumer closing us) closes the
        # stream: the engine sees the client gone and stops generating. The
        # deadline covers each wait for the next piece, never the consumer's time.
        with self._errors("reply", url):
            async with contextlib.AsyncExitStack() as stack:
                whole: str | None = None  # a server that answered in one piece
                async with asyncio.timeout(self.timeout):
                    response = await self._connect(stack, url, body)
                    if not response.headers.get("content-type", "").startswith("text/event-stream"):
                        whole = _whole_reply(self._json(await _read(response), "reply"))
                if whole is not None:
                    yield whole
                    return
                pieces = _sse_pieces(response)
                stack.push_async_callback(pieces.aclose)
                while True:
                    try:
                        async with asyncio.timeout(self.timeout):
                            piece = await anext(pieces)
                    except StopAsyncIteration:
                        return
                    if piece:
                        yield piece

    async def synthesize(self, text: str, *, first: bool = False) -> AudioFrame:
        if (frame := self._spoken.get(text)) is not None:
            self._spoken.move_to_end(text)
            return frame
        url = f"{self.urls['tts']}/audio/speech"
        body = {
            "model": self.names["tts"],
            "input": text,
            "voice": self.voice,
            "response_format": "wav",
        }
        headers = {"X-Clause": "first" if first else "next"}
        with self._errors("speech", url):
            async with asyncio.timeout(self.timeout):
                response = await self._post(url, json=body, headers=headers)
        if response.status_code >= 400:
            self._fail(response, "speech")
        frame = self._audio(response)
        self._spoken[text] = frame
        if len(self._spoken) > SPOKEN_CACHE_SIZE:
            self._spoken.popitem(last=False)
        return frame

    async def prime(self, phrases: list[str]) -> None:
        """Have these phrases ready as audio (the greeting, and the fallback
        phrase: the one said when the service is gone)."""
        for phrase in phrases:
            if phrase:
                await self.synthesize(phrase)

    # -- HTTP -----------------------------------------------------------------------
    async def _post(self, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.client.post(url, **kwargs)
        except httpx.ConnectError:  # never reached the service: once more (it may be restarting)
            await asyncio.sleep(CONNECT_RETRY_S)
            return await self.client.post(url, **kwargs)

    async def _connect(
        self, stack: contextlib.AsyncExitStack, url: str, body: dict[str, Any]
    ) -> httpx.Response:
        for attempt in (1, 2):
            try:
                request = self.client.stream("POST", url, json=body)
                response = await stack.enter_async_context(request)
                break
            except httpx.ConnectError:
                if attempt == 2:
                    raise
                await asyncio.sleep(CONNECT_RETRY_S)
        if response.status_code >= 400:
            self._fail(await _read(response), "reply")
        return response

    @contextlib.contextmanager
    def _errors(self, what: str, url: str) -> Iterator[None]:
        try:
            yield
        except SpeechError:
            raise
        except (TimeoutError, httpx.TimeoutException):
            raise TimedOut(f"{what}: no answer from {url} within {self.timeout:g} s") from None
        except httpx.ConnectError:
            raise Unavailable(f"{what}: cannot connect to {url}") from None
        except httpx.TransportError as exc:  # the connection broke: the service went away
            raise Unavailable(f"{what}: {url}: {type(exc).__name__} {exc}".strip()) from None

    def _json(self, response: httpx.Response, what: str) -> Any:
        if response.status_code >= 400:
            self._fail(response, what)
        try:
            return response.json()
        except ValueError:
            raise BadResponse(f"{what}: not JSON: {_excerpt(response.text)}") from None

    def _fail(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        message = f"{what}: {status} {_error_message(response)}"
        if status in (429, 503):
            retry_after = response.headers.get("retry-after", "1")
            seconds = float(retry_after) if retry_after.isdigit() else 1.0
            self.saturated_until = time.monotonic() + seconds
            raise Unavailable(message)
        if status >= 500:
            raise Unavailable(message)
        raise BadResponse(message)

    def _audio(self, response: httpx.Response) -> AudioFrame:
        """The response's audio at our rate; its rate must be stated and agree."""
        stated = response.headers.get("x-sample-rate")
        kind = response.headers.get("content-type", "")
        try:
            if kind.startswith("audio/pcm") or not response.content.startswith(b"RIFF"):
                if stated is None or not stated.isdigit():
                    raise BadResponse("speech: raw PCM without its sample rate (X-Sample-Rate)")
                pcm, rate = (
                    np.frombuffer(response.content[: len(response.content) // 2 * 2], "<i2"),
                    int(stated),
                )
            else:
                pcm, rate = wav.decode(response.content)
        except wav.WavError as exc:
            raise BadResponse(f"speech: {exc}") from None
        if stated is not None and stated != str(rate):
            raise BadResponse(f"speech: wrong sample rate: X-Sample-Rate {stated}, WAV {rate} Hz")
        if not MIN_RATE <= rate <= MAX_RATE:
            raise BadResponse(f"speech: wrong sample rate {rate} Hz")
        if pcm.size == 0:
            raise BadResponse("speech: no audio")
        samples = np.array(pcm, dtype=np.int16)
        if rate != self.rate:
            samples = resample.resampler(rate, self.rate).process(samples).copy()
        return AudioFrame(samples, self.rate)


async def _read(response: httpx.Response) -> httpx.Response:
    await response.aread()
    return response


async def _sse_pieces(response: httpx.Response) -> AsyncGenerator[str, None]:
    """The text of each chunk of an OpenAI chat stream ('' for one without);
    BadResponse for what is not one, Unavailable if it ends before [DONE].
    Tool calls a server parsed out of the text (llama-server --jinja, vLLM)
    come back as the text the model wrote, Qwen's <tool_call> form, at the end."""
    calls: dict[int, list[str]] = {}  # index -> [name, arguments so far]
    async for line in response.aiter_lines():
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field in ("event", "id", "retry"):
            continue
        if field != "data":
            raise BadResponse(f"reply: malformed event stream: {_excerpt(line)}")
        value = value.strip()
        if value == "[DONE]":
            for name, arguments in calls.values():
                yield _tool_call_text(name, arguments)
            return
        try:
            chunk = json.loads(value)
        except ValueError:
            raise BadResponse(f"reply: malformed event: {_excerpt(value)}") from None
        if not isinstance(chunk, dict):
            raise BadResponse(f"reply: malformed event: {_excerpt(value)}")
        if "error" in chunk:
            raise Unavailable(f"reply: the engine failed: {_excerpt(json.dumps(chunk['error']))}")
        choices = chunk.get("choices")
        if choices == []:
            continue  # a usage chunk
        if not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise BadResponse(f"reply: a chunk without choices: {_excerpt(value)}")
        delta = choices[0].get("delta") or {}
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(delta, dict) and isinstance(delta.get("tool_calls"), list):
            _add_tool_calls(calls, delta["tool_calls"])
        yield content if isinstance(content, str) else ""
    raise Unavailable("reply: the stream ended before [DONE]")


def _add_tool_calls(calls: dict[int, list[str]], pieces: list[Any]) -> None:
    """Streamed tool calls come in fragments: a name, then its arguments bit by bit."""
    for piece in pieces:
        if not isinstance(piece, dict) or not isinstance(piece.get("function"), dict):
            continue
        index = piece.get("index", 0)
        call = calls.setdefault(index if isinstance(index, int) else 0, ["", ""])
        function = piece["function"]
        call[0] += function.get("name") or ""
        arguments = function.get("arguments") or ""
        call[1] += arguments if isinstance(arguments, str) else json.dumps(arguments)


def _tool_call_text(name: str, arguments: str) -> str:
    call = json.dumps({"name": name, "arguments": arguments or "{}"})
    return f"<tool_call>\n{call}\n</tool_call>"


def _whole_reply(body: Any) -> str:
    """A server that answered a stream request in one piece."""
    try:
        message = body["choices"][0]["message"]
        calls: dict[int, list[str]] = {}
        _add_tool_calls(calls, message.get("tool_calls") or [])
        return str(message["content"] or "") + "".join(
            _tool_call_text(name, arguments) for name, arguments in calls.values()
        )
    except (KeyError, IndexError, TypeError):
        raise BadResponse(f"reply: not a chat completion: {_excerpt(json.dumps(body))}") from None


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        if isinstance(error, dict):
            return str(error.get("message", ""))
        if isinstance(error, str):
            return error
    except (ValueError, AttributeError):
        pass
    return _excerpt(response.text)


def _excerpt(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
