"""Short-lived call tokens: what the softphone page shows to start a call.

A token is base64url(JSON claims) "." base64url(HMAC-SHA256 of the claims):
the server checks it without a lookup, and it expires on its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass


class TokenError(ValueError):
    """The token is malformed, forged or expired."""


@dataclass(frozen=True, slots=True)
class CallToken:
    agent: str | None  # None: any agent
    expires: int  # unix seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def issue(secret: str, ttl_seconds: int, agent: str | None = None, now: float | None = None) -> str:
    claims = {
        "agent": agent,
        "exp": int((time.time() if now is None else now) + ttl_seconds),
        "n": secrets.token_hex(4),
    }
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{_sign(secret, body)}"


def verify(secret: str, token: str, now: float | None = None) -> CallToken:
    # compare_digest takes only ASCII str: any other byte is a malformed token
    if not token.isascii():
        raise TokenError("not a valid call token")
    body, dot, signature = token.partition(".")
    if not dot or not hmac.compare_digest(signature.encode(), _sign(secret, body).encode()):
        raise TokenError("not a valid call token")
    try:
        claims = json.loads(_unb64(body))
        agent, expires = claims["agent"], int(claims["exp"])
    except (ValueError, KeyError, TypeError):
        raise TokenError("not a valid call token") from None
    if expires < (time.time() if now is None else now):
        raise TokenError("the call token has expired")
    return CallToken(agent if isinstance(agent, str) else None, expires)


def _sign(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:24])
