"""API keys (admin | viewer) with per-key rate limits, and call tokens.

Every endpoint but /healthz depends on `Auth.viewer` or `Auth.admin`;
keys arrive as `Authorization: Bearer msk_...` and are never logged."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mediaserver.store import Store
from mediaserver.tokens import CallToken, TokenError, issue, new_secret, verify

bearer = HTTPBearer(auto_error=False, description="An API key: `mediaserver keys create`")


class RateLimiter:
    """A token bucket per API key."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key_id: str) -> float:
        """0 if the request may go; otherwise seconds until it may."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.per_second)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                return (1.0 - tokens) / self.per_second
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0.0


class Auth:
    def __init__(self, store: Store, limiter: RateLimiter) -> None:
        self.store = store
        self.limiter = limiter
        self.viewer = self._requires("viewer")
        self.admin = self._requires("admin")

    def _requires(self, role: str) -> Callable[..., str]:
        def check(
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        ) -> str:
            if credentials is None:
                raise HTTPException(
                    401, "an API key is needed", headers={"WWW-Authenticate": "Bearer"}
                )
            found = self.store.key_role(credentials.credentials)
            if found is None:
                raise HTTPException(
                    401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
                )
            key_id, key_role = found
            if role == "admin" and key_role != "admin":
                raise HTTPException(403, "this needs an admin key")
            if (wait := self.limiter.allow(key_id)) > 0:
                raise HTTPException(
                    429, "too many requests", headers={"Retry-After": str(max(1, round(wait)))}
                )
            return key_id

        return check


class CallTokens:
    """Issues and checks call tokens with the configured secret, or one kept in the store."""

    def __init__(self, store: Store, ttl_seconds: int, secret: str = "") -> None:
        self.ttl_seconds = ttl_seconds
        self.secret = secret or store.setting("call_token_secret", new_secret)

    def issue(self, agent: str | None = None, ttl_seconds: int | None = None) -> str:
        return issue(self.secret, ttl_seconds or self.ttl_seconds, agent)

    def verify(self, token: str) -> CallToken:
        return verify(self.secret, token)

    def check(self, token: str, agent: str) -> None:
        """Raise TokenError unless `token` is valid and allows `agent`."""
        claims = verify(self.secret, token)
        if claims.agent is not None and claims.agent != agent:
            raise TokenError(f"the call token is for agent {claims.agent!r}")
