"""A business's HTTP tools for tests: a real uvicorn on a free loopback port,
in a thread. It records every request (method, path, headers, body, query)
and answers as its path says: /book and /order answer JSON, /slow after
`slow_seconds`, /fail 500, /badjson text, /big more than 64 KiB, /redirect a
302 to `redirect_to`."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: str


@dataclass
class ToolScript:
    slow_seconds: float = 2.0
    redirect_to: str = "http://10.0.0.1/book"
    received: list[Received] = field(default_factory=list)


def create_app(script: ToolScript) -> FastAPI:
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"], response_model=None)
    async def any_path(path: str, request: Request) -> Response:
        body = await request.body()
        script.received.append(
            Received(request.method, "/" + path, dict(request.headers), body, request.url.query)
        )
        answer: dict[str, Any]
        match path:
            case "book":
                answer = {"booked": True, "time": "9 am"}
            case "order":
                answer = {"order": request.query_params.get("order_id"), "status": "shipped"}
            case "slow":
                await asyncio.sleep(script.slow_seconds)
                answer = {"booked": True, "time": "10 am"}
            case "fail":
                return JSONResponse({"error": "database down"}, 500)
            case "badjson":
                return PlainTextResponse("<html>not json</html>")
            case "big":
                return JSONResponse({"blob": "x" * 100_000})
            case "redirect":
                return RedirectResponse(script.redirect_to, 302)
            case _:
                return JSONResponse({"error": "no such tool"}, 404)
        return JSONResponse(answer)

    return app


class ToolServer:
    def __init__(self, script: ToolScript | None = None) -> None:
        self.script = script or ToolScript()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.server = uvicorn.Server(
            uvicorn.Config(
                create_app(self.script), host="127.0.0.1", port=self.port, log_level="warning"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> ToolServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise AssertionError("the tool server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
