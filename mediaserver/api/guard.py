"""What an HTTP request may cost before it is answered.

- A request with a body must carry a valid credential before one byte of the
  body is read (401 or 429 otherwise); FastAPI reads and parses bodies before
  it runs an endpoint's dependencies, so the check stands in front of it.
- The body must arrive within `timeout` seconds of the request (408), and be
  no larger than its route allows (FastAPI's max_body_size: 413).
- The request line and headers must arrive within `timeout` seconds of the
  connection (or of the previous response): uvicorn times out only idle
  kept-alive connections, so a client that trickles a header byte at a time
  would hold its connection for ever. `guarded_protocol` adds that deadline.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediaserver.api.auth import Auth

LARGE_BODY = 256 * 1024  # /agents (a 20,000-character prompt, escaped) and /webrtc/offer (SDP)
# what anyone may ask for: no route there reads a body (a POST gets its 405)
PUBLIC = (
    "/healthz",
    "/",
    "/favicon.ico",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
)


def public(path: str) -> bool:
    return path in PUBLIC or path.startswith("/ui/")


def has_body(headers: Headers) -> bool:
    length = headers.get("content-length", "").strip()
    return "chunked" in headers.get("transfer-encoding", "").lower() or length not in ("", "0")


def bearer_credential(headers: Headers) -> str | None:
    scheme, _, credential = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credential.strip() or None


class RequestGuard:
    """ASGI middleware: credentials before bodies, bodies within the deadline."""

    def __init__(self, app: ASGIApp, auth: Auth, timeout: float) -> None:
        self.app = app
        self.auth = auth
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        body = has_body(headers)
        if body and not public(scope["path"]):
            client = scope.get("client")
            source = client[0] if client else ""
            try:
                await asyncio.to_thread(
                    self.auth.authenticate, scope["path"], bearer_credential(headers), source
                )
            except HTTPException as exc:
                closing = {**(exc.headers or {}), "Connection": "close"}  # the body stays unread
                refusal = JSONResponse({"detail": exc.detail}, exc.status_code, headers=closing)
                await refusal(scope, receive, send)
                return
        deadline = asyncio.get_running_loop().time() + self.timeout
        reading = body

        async def receive_in_time() -> Message:
            nonlocal reading
            if not reading:  # after the body: e.g. waiting for a disconnect while streaming
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408, "the request body did not arrive in time", {"Connection": "close"}
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                reading = False
            return message

        await self.app(scope, receive_in_time, send)


def guarded_protocol(timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with a deadline on each request's line and headers."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    except ImportError:  # pragma: no cover - httptools is a dependency
        from uvicorn.protocols.http.h11_impl import H11Protocol as base  # type: ignore[assignment]

    class HeaderDeadline(base):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request on this connection gets its own deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def handle_websocket_upgrade(self, *args: Any) -> None:
            self._disarm()  # the connection is the WebSocket protocol's from here on
            super().handle_websocket_upgrade(*args)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(timeout, self._expired)

        def _expired(self) -> None:
            self._deadline = None
            serving = self.cycle is not None and not self.cycle.response_complete
            if not serving and not self.transport.is_closing():
                self.transport.close()  # headers never completed: hang up

    return HeaderDeadline
