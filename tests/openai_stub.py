"""A deliberately scriptable OpenAI-compatible server (a real uvicorn on a
free loopback port, in a thread): it answers like an engine does, or breaks
the way engines break, as `mode` says.

modes of the chat stream: "ok", "malformed" (not JSON), "garbage" (not SSE),
"500", "503", "stall" (headers, one piece, then nothing), "drop" (a piece,
then the connection closes without [DONE]);
modes of speech: "ok", "wrong_rate" (X-Sample-Rate disagrees with the WAV),
"pcm_no_rate" (raw PCM, rate unsaid), "500". health "saturated": /healthz
answers 503."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from mediaserver import wav

RATE = 22050


@dataclass
class Script:
    chat: str = "ok"
    speech: str = "ok"
    answer: str = "We are open nine to five."
    transcript: str = "What are your opening hours?"
    health: str = "ok"  # "saturated": /healthz answers 503, as a full service does
    requests: list[str] = field(default_factory=list)  # endpoint of each request
    answers: list[str] = field(default_factory=list)  # taken one per chat, then `answer`
    chats: list[dict[str, Any]] = field(default_factory=list)  # each chat request's body
    disconnected: int = 0  # streams whose client went away


def _chunk(content: str) -> str:
    body = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": content}}],
    }
    return f"data: {json.dumps(body)}\n\n"


def _delta(delta: dict[str, Any]) -> str:
    body = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}
    return f"data: {json.dumps(body)}\n\n"


def create_app(script: Script) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> JSONResponse:
        script.requests.append("transcriptions")
        await request.body()
        return JSONResponse({"text": script.transcript})

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Response:
        script.requests.append("chat")
        script.chats.append(await request.json())
        answer = script.answers.pop(0) if script.answers else script.answer
        mode = script.chat
        if mode in ("500", "503"):
            error = {"error": {"message": "engine down", "type": "server_error", "code": None}}
            headers = {"Retry-After": "1"} if mode == "503" else None
            return JSONResponse(error, int(mode), headers=headers)

        async def events() -> AsyncIterator[str]:
            try:
                if mode == "malformed":
                    yield "data: {not json\n\n"
                elif mode == "garbage":
                    yield "<html>oops</html>\n\n"
                elif mode == "stall":
                    yield _chunk("We")
                    await asyncio.sleep(3600)
                elif mode == "tool_calls" and answer.startswith("{"):
                    # a call, as llama-server --jinja streams one it parsed out of the text
                    call = json.loads(answer)
                    arguments = json.dumps(call["arguments"])
                    yield _delta({"tool_calls": [{"index": 0, "function": {"name": call["name"]}}]})
                    for part in (arguments[:5], arguments[5:]):
                        fragment = {"index": 0, "function": {"arguments": part}}
                        yield _delta({"tool_calls": [fragment]})
                    yield "data: [DONE]\n\n"
                elif mode == "drop":
                    yield _chunk("We are")
                    raise RuntimeError("connection lost")  # uvicorn closes it mid-body
                else:
                    for word in answer.split(" "):
                        yield _chunk(word + " ")
                    yield "data: [DONE]\n\n"
            except asyncio.CancelledError:
                script.disconnected += 1
                raise

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/audio/speech")
    async def speech(request: Request) -> Response:
        script.requests.append("speech")
        body = await request.json()
        words = len(str(body.get("input", "")).split())
        pcm = (np.sin(np.arange(int(RATE * 0.2 * words)) / 8) * 3000).astype(np.int16)
        if script.speech == "500":
            return JSONResponse({"error": {"message": "voice down", "type": "server_error"}}, 500)
        if script.speech == "pcm_no_rate":
            return Response(pcm.tobytes(), media_type="audio/pcm")
        stated = 16000 if script.speech == "wrong_rate" else RATE
        return Response(
            wav.encode(pcm, RATE), media_type="audio/wav", headers={"X-Sample-Rate": str(stated)}
        )

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": script.health}, 503 if script.health != "ok" else 200)

    return app


class StubServer:
    def __init__(self, script: Script | None = None, port: int = 0) -> None:
        self.script = script or Script()
        self.port = port or _free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(self.script), host="127.0.0.1", port=self.port, log_level="warning"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> StubServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise AssertionError("the stub server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
