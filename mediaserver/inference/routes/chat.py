"""POST /v1/chat/completions: whole, or streamed as server-sent events in
OpenAI's chunk format. A client that goes away stops the generation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from mediaserver.inference.engines import Engines
from mediaserver.inference.errors import ApiError

DEFAULT_MAX_TOKENS = 256
DISCONNECT_POLL_S = 0.25


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[TextPart]

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ToolFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=64)
    description: str = Field("", max_length=4000)
    parameters: dict[str, Any] = Field(default_factory=dict)


class Tool(BaseModel):
    """An OpenAI `tools` entry; the model's chat template renders it."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["function"] = "function"
    function: ToolFunction


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send more than we use
    model: str = ""
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    tools: list[Tool] | None = Field(None, max_length=64)


def router(engines: Engines) -> APIRouter:
    api = APIRouter()

    @api.post("/v1/chat/completions", response_model=None)
    async def completions(
        request: ChatRequest, http: Request
    ) -> dict[str, object] | StreamingResponse | Response:
        model = engines.llm_name
        if model is None:
            raise ApiError(
                404,
                f"no LLM is served here: [models] llm_url ({engines.names[1]!r} there) answers",
                code="model_not_found",
            )
        if request.model and request.model != model:
            raise ApiError(
                404, f"model {request.model!r} is not served here", code="model_not_found"
            )
        max_tokens = request.max_completion_tokens or request.max_tokens or DEFAULT_MAX_TOKENS
        messages = [{"role": m.role, "content": m.text} for m in request.messages]
        job, pieces = engines.generate(
            messages,
            max_tokens,
            request.temperature,
            [tool.model_dump() for tool in request.tools] if request.tools else None,
        )  # or 503 now
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        started = time.perf_counter()
        if not request.stream:
            text = await _collect(pieces, http)
            if text is None:  # nobody is waiting for it any more
                return Response(status_code=499)
            engines.metrics.seconds.labels("chat").observe(time.perf_counter() - started)
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": job.finish_reason,
                    }
                ],
                "usage": {"completion_tokens": job.tokens},
            }

        def chunk(delta: dict[str, str], finish: str | None = None) -> str:
            body = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(body, separators=(',', ':'))}\n\n"

        async def events() -> AsyncIterator[str]:
            # Starlette cancels this generator when the client disconnects; the
            # finally of `pieces` then stops the model at its next token.
            try:
                yield chunk({"role": "assistant", "content": ""})
                async for piece in pieces:
                    yield chunk({"content": piece})
                yield chunk({}, job.finish_reason)
            except Exception as exc:  # the headers are gone: say it in the stream, as OpenAI does
                error = {"message": f"the model failed: {exc}", "type": "server_error"}
                yield f"data: {json.dumps({'error': error})}\n\n"
                return
            finally:
                await pieces.aclose()
            yield "data: [DONE]\n\n"
            engines.metrics.seconds.labels("chat").observe(time.perf_counter() - started)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return api


async def _collect(pieces: AsyncGenerator[str, None], http: Request) -> str | None:
    """A whole completion; None if the client went away first (the model is
    then stopped at its next token, as a closed stream stops it)."""

    async def join() -> str:
        return "".join([piece async for piece in pieces])

    task = asyncio.ensure_future(join())
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await http.is_disconnected():
                return None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pieces.aclose()
