"""API keys (admin | viewer) with per-key rate limits, call tokens, and a
throttle on wrong credentials per source address.

Every endpoint but /healthz depends on `Auth.viewer` or `Auth.admin` (the
softphone's on `Auth.call_token`); credentials arrive as
`Authorization: Bearer ...` and are never logged. A malformed credential is
a wrong one: 401."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from mediaserver.store import Store
from mediaserver.tokens import CallToken, TokenError, issue, new_secret, verify

log = logging.getLogger(__name__)

bearer_scheme = HTTPBearer(auto_error=False, description="An API key: `mediaserver keys create`")


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


class FailedAuth:
    """Wrong credentials counted per source address in fixed windows: past
    `limit` in one window, a wrong credential gets 429 with Retry-After in
    place of 401. A right one always passes (one address may be a NAT that
    holds honest clients too; keys are too long to guess anyway). At most
    MAX_SOURCES addresses are kept: the oldest windows go first."""

    MAX_SOURCES = 10_000

    def __init__(
        self, limit: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # source -> (window start, failures)
        self._lock = threading.Lock()

    def failed(self, source: str) -> float:
        """Count a wrong credential from `source`: 0 if it may hear 401, else
        the seconds until its window ends."""
        now = self._clock()
        with self._lock:
            start, count = self._windows.pop(source, (now, 0))
            if now - start >= self.window_seconds:
                start, count = now, 0
            self._windows[source] = (start, count + 1)  # re-inserted: newest last
            if len(self._windows) > self.MAX_SOURCES:
                del self._windows[next(iter(self._windows))]
            if count + 1 <= self.limit:
                return 0.0
        if count == self.limit:  # once per window, not once per guess
            log.warning("%s: %d wrong credentials: 429 for the next ones", source, count + 1)
        return max(1.0, start + self.window_seconds - now)

    @property
    def sources(self) -> int:
        return len(self._windows)


def source_of(request: Request) -> str:
    return request.client.host if request.client else ""


class Auth:
    def __init__(
        self, store: Store, limiter: RateLimiter, failures: FailedAuth, tokens: CallTokens
    ) -> None:
        self.store = store
        self.limiter = limiter
        self.failures = failures
        self.tokens = tokens
        self.viewer = self._requires("viewer")
        self.admin = self._requires("admin")

    def refuse(self, source: str, detail: str) -> HTTPException:
        """401 for a wrong credential, or 429 once `source` has sent too many."""
        if (wait := self.failures.failed(source)) > 0:
            return HTTPException(
                429, "too many failed authentications", headers={"Retry-After": str(round(wait))}
            )
        return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})

    def api_key(self, credential: str | None, source: str) -> tuple[str, str]:
        """(key id, role) of a valid key; HTTPException 401 or 429 otherwise."""
        if not credential:
            raise HTTPException(401, "an API key is needed", headers={"WWW-Authenticate": "Bearer"})
        found = self.store.key_role(credential)
        if found is None:
            raise self.refuse(source, "unknown or revoked API key")
        return found

    def call_token(self, credential: str | None, source: str) -> CallToken:
        """The claims of a valid call token; HTTPException 401 or 429 otherwise."""
        if not credential:
            raise HTTPException(
                401, "a call token is needed", headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            return self.tokens.verify(credential)
        except TokenError as exc:
            raise self.refuse(source, str(exc)) from None

    def authenticate(self, path: str, credential: str | None, source: str) -> None:
        """What a request to `path` must carry before its body is read."""
        if path.startswith("/twilio/"):
            return  # Twilio signs the URL and the form: the route checks it, body capped
        if path.startswith("/webrtc/"):
            self.call_token(credential, source)
        else:
            self.api_key(credential, source)

    def _requires(self, role: str) -> Callable[..., str]:
        def check(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        ) -> str:
            credential = credentials.credentials if credentials is not None else None
            key_id, key_role = self.api_key(credential, source_of(request))
            if role == "admin" and key_role != "admin":
                raise HTTPException(403, "this needs an admin key")
            if (wait := self.limiter.allow(key_id)) > 0:
                raise HTTPException(
                    429, "too many requests", headers={"Retry-After": str(max(1, round(wait)))}
                )
            return key_id

        return check


SECRET_FILE = "call_token_secret"  # noqa: S105 - the file's name, not a secret


class CallTokens:
    """Issues and checks call tokens with the configured secret, or one kept in
    <data_dir>/call_token_secret (mode 0600; one an older version kept in the
    store moves there)."""

    def __init__(self, store: Store, ttl_seconds: int, secret: str, data_dir: Path) -> None:
        self.ttl_seconds = ttl_seconds
        self.secret = secret or kept_secret(store, data_dir)

    def issue(self, agent: str | None = None, ttl_seconds: int | None = None) -> str:
        return issue(self.secret, ttl_seconds or self.ttl_seconds, agent)

    def verify(self, token: str) -> CallToken:
        return verify(self.secret, token)

    def check(self, token: str, agent: str) -> None:
        """Raise TokenError unless `token` is valid and allows `agent`."""
        claims = verify(self.secret, token)
        if claims.agent is not None and claims.agent != agent:
            raise TokenError(f"the call token is for agent {claims.agent!r}")


def kept_secret(store: Store, data_dir: Path) -> str:
    """The call-token secret in `data_dir`, made (or moved out of the store) once."""
    path = data_dir / SECRET_FILE
    if path.exists():
        if path.stat().st_mode & 0o077:
            log.warning("%s was readable by others: now 0600", path)
            path.chmod(0o600)
        return path.read_text(encoding="ascii").strip()
    secret = store.setting("call_token_secret", new_secret)  # an older version's, if any
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secret + "\n")
    store.pop_setting("call_token_secret")
    return secret


class Me(BaseModel):
    id: str
    name: str
    role: str


def router(auth: Auth) -> APIRouter:
    """GET /auth/me: who the key is, so that the pages show a viewer no edit controls."""
    api = APIRouter(prefix="/auth", tags=["auth"])

    @api.get("/me", response_model=Me)
    def me(key_id: str = Depends(auth.viewer)) -> dict[str, Any]:
        key = next(k for k in auth.store.list_keys() if k["id"] == key_id)
        return {"id": key_id, "name": key["name"], "role": key["role"]}

    return api
