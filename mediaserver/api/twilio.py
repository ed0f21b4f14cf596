"""Twilio: the voice webhook (TwiML) and the Media Streams socket.

POST /twilio/voice answers a call to a Twilio number with
<Connect><Stream url="wss://PUBLIC/twilio/media"> (the agent by the called
number, as [[sip.routes]]); an agent with a keypad menu gets <Gather> first,
whose digit comes back to this webhook. Every request, and the socket's
handshake, must carry a valid X-Twilio-Signature: HMAC-SHA1 with the
account's Auth Token over the URL Twilio used followed by the POST
parameters sorted by name, base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, HTTPException, Request, Response, WebSocket
from fastapi.concurrency import run_in_threadpool

from mediaserver.agents import AgentBook
from mediaserver.config import TwilioConfig
from mediaserver.transports.twilio import TwilioCall
from mediaserver.transports.websocket_call import SocketServer

MAX_FORM_BYTES = 64 * 1024


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """X-Twilio-Signature of a request to `url` with POST `params`: a repeated
    parameter counts each of its distinct values once, in order (as Twilio's
    helper libraries compute it)."""
    data = url + "".join(key + value for key, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def stream_url(public_url: str) -> str:
    """Where Twilio opens the media socket: wss:// for https://, ws:// for http://."""
    base = public_url.rstrip("/")
    scheme, rest = base.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/twilio/media"


def router(
    config: TwilioConfig, server: SocketServer, book: AgentBook, routes: dict[str, str]
) -> APIRouter:
    api = APIRouter(prefix="/twilio", tags=["twilio"])
    base = config.public_url.rstrip("/")
    media_url = stream_url(config.public_url)

    def signed(given: str | None, url: str, params: list[tuple[str, str]]) -> bool:
        expected = signature(config.auth_token, url, params)
        return given is not None and hmac.compare_digest(given.encode(), expected.encode())

    @api.post(
        "/voice",
        response_class=Response,
        responses={200: {"content": {"application/xml": {}}}, 403: {"description": "unsigned"}},
    )
    async def voice(request: Request) -> Response:
        """Twilio's voice webhook: TwiML that streams the call to /twilio/media."""
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "the form is too large")
        params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if not signed(request.headers.get("x-twilio-signature"), url, params):
            raise HTTPException(403, "X-Twilio-Signature does not match this request")
        form = dict(params)
        called = form.get("To", "")
        agent_name = request.query_params.get("agent") or routes.get(called, "")
        found = await run_in_threadpool(book.get, agent_name) if agent_name else None
        agent = found[0] if found is not None else book.builtin
        digits = form.get("Digits", "")
        stream = _connect(
            media_url,
            {"agent": agent_name, "from": form.get("From", ""), "to": called, "digits": digits},
        )
        twiml = stream
        if agent.menu and not digits and "menu" not in request.query_params:
            action = f"{base}/twilio/voice?{urlencode({'agent': agent_name, 'menu': '1'})}"
            twiml = (
                f'<Gather input="dtmf" numDigits="1" method="POST" '
                f"timeout={quoteattr(str(round(agent.menu_timeout_seconds)))} "
                f"action={quoteattr(action)}><Say>{escape(agent.menu_text)}</Say></Gather>" + stream
            )
        return Response(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response>{twiml}</Response>',
            media_type="application/xml",
        )

    @api.websocket("/media")
    async def media(websocket: WebSocket) -> None:
        """The bidirectional Media Stream of one call."""
        query = websocket.url.query
        url = media_url + (f"?{query}" if query else "")
        if not signed(websocket.headers.get("x-twilio-signature"), url, []):
            await websocket.close(1008, "X-Twilio-Signature does not match")  # HTTP 403
            return
        client = websocket.client
        remote = f"{client.host}:{client.port}" if client else ""
        await server.admit(
            websocket, lambda call_id: TwilioCall(server, websocket, call_id, remote)
        )

    return api


def _connect(url: str, parameters: dict[str, str]) -> str:
    params = "".join(
        f"<Parameter name={quoteattr(name)} value={quoteattr(value)}/>"
        for name, value in parameters.items()
        if value
    )
    return f"<Connect><Stream url={quoteattr(url)}>{params}</Stream></Connect>"
