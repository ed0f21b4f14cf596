"""/ws/audio: a call over a WebSocket for apps (protocol: transports/ws_audio.py).

The call token comes as `Authorization: Bearer TOKEN` or, where a client
cannot set headers (browsers), as `?token=TOKEN`. Without a valid one the
handshake is refused (HTTP 403)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from fastapi.concurrency import run_in_threadpool

from mediaserver.agents import AgentBook
from mediaserver.api.auth import Auth
from mediaserver.tokens import TokenError
from mediaserver.transports.websocket_call import SocketServer
from mediaserver.transports.ws_audio import AppCall


def router(server: SocketServer, auth: Auth, book: AgentBook) -> APIRouter:
    api = APIRouter(tags=["websocket"])

    @api.websocket("/ws/audio")
    async def audio(websocket: WebSocket) -> None:
        """A call: JSON start, then binary audio both ways and JSON events."""
        header = websocket.headers.get("authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else ""
        token = token or websocket.query_params.get("token", "")
        client = websocket.client
        try:
            auth.tokens.verify(token)
        except TokenError as exc:
            too_many = auth.failures.failed(client.host if client else "") > 0
            reason = "too many failed authentications" if too_many else str(exc)
            await websocket.close(1008, reason)  # before accept: HTTP 403
            return

        async def allow_agent(agent: str) -> str | None:
            try:
                auth.tokens.check(token, agent)
            except TokenError as exc:
                return str(exc)
            if await run_in_threadpool(book.get, agent) is None:
                return f"no agent {agent!r}"
            return None

        remote = f"{client.host}:{client.port}" if client else ""
        await server.admit(
            websocket,
            lambda call_id: AppCall(server, websocket, call_id, remote, allow_agent=allow_agent),
        )

    return api
