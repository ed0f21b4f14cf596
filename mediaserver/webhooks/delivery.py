"""The delivery worker: sends what the outbox holds, signed, and records each
attempt. A 2xx delivers; anything else (another status, a timeout, a refused
connection) is retried after a delay that doubles from `base_seconds` up to
`max_seconds`, until `max_attempts`; then the delivery is failed. A delivery
cut off by a restart is sent again: receivers de-duplicate by event id."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from mediaserver.netguard import NetGuard, Refused
from mediaserver.store.outbox import Due, OutboxStore
from mediaserver.webhooks import signing

log = logging.getLogger(__name__)

BATCH = 50  # deliveries read per pass
AT_ONCE = 8  # sent concurrently


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 5.0
    max_seconds: float = 3600.0
    max_attempts: int = 12

    def delay(self, attempts: int) -> float | None:
        """Seconds before the next try after `attempts` failed ones; None: give up."""
        if attempts >= self.max_attempts:
            return None
        return float(min(self.max_seconds, self.base_seconds * 2 ** (attempts - 1)))


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None
    error: str | None  # None: delivered


Send = Callable[[str, bytes, dict[str, str]], Awaitable[Outcome]]
Offload = Callable[..., Awaitable[Any]]  # runs blocking store work: asyncio.to_thread


class Deliverer:
    """`now`: seconds since the epoch; `offload`: how the store's blocking
    calls run off the loop (a test on virtual time runs them in place)."""

    def __init__(
        self,
        rows: OutboxStore,
        guard: NetGuard,
        policy: RetryPolicy,
        *,
        timeout_seconds: float = 10.0,
        poll_seconds: float = 1.0,
        send: Send | None = None,
        now: Callable[[], float] = time.time,
        offload: Offload = asyncio.to_thread,
    ) -> None:
        self.offload = offload
        self.rows = rows
        self.guard = guard
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.now = now
        self._client: httpx.AsyncClient | None = None
        self._timeout = timeout_seconds
        self.send: Send = send or self._post
        self.delivered = 0
        self.failed_attempts = 0

    def _at(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    async def run(self) -> None:
        """Deliver until cancelled."""
        try:
            while True:
                try:
                    sent = await self.deliver_due()
                except Exception:
                    log.exception("webhook outbox: a pass failed")
                    sent = 0
                if sent < BATCH:
                    await asyncio.sleep(self.poll_seconds)
        finally:
            if self._client is not None:
                await self._client.aclose()

    async def deliver_due(self) -> int:
        """One pass: every delivery due now; how many were tried."""
        due = await self.offload(self.rows.due, self._at(), BATCH)
        slots = asyncio.Semaphore(AT_ONCE)

        async def one(delivery: Due) -> None:
            async with slots:
                await self._attempt(delivery)

        await asyncio.gather(*(one(d) for d in due))
        return len(due)

    async def _attempt(self, delivery: Due) -> None:
        body = delivery.body.encode()
        stamp = int(self.now())
        headers = signing.headers(delivery.secret, delivery.event_id, stamp, body)
        try:
            await self.guard.check_async(delivery.url)
        except Refused as exc:
            outcome = Outcome(None, str(exc))
        else:
            outcome = await self.send(delivery.url, body, headers)
        attempts = delivery.attempts + 1
        retry_in = None if outcome.error is None else self.policy.delay(attempts)
        if outcome.error is None:
            self.delivered += 1
        else:
            self.failed_attempts += 1
            log.warning(
                "webhook %s (event %s) attempt %d: %s%s",
                delivery.url,
                delivery.event_id,
                attempts,
                outcome.error,
                f"; again in {retry_in:g} s" if retry_in is not None else "; given up",
            )
        await self.offload(
            self.rows.attempted,
            delivery.id,
            at=self._at(),
            status=outcome.status,
            error=outcome.error,
            retry_in=retry_in,
        )

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                follow_redirects=False,
                trust_env=False,
                transport=self.guard.transport(),  # connects to the address it checked
            )
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except Refused as exc:  # the name resolves elsewhere since _attempt's check
            return Outcome(None, str(exc))
        except httpx.TimeoutException:
            return Outcome(None, f"no answer within {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}"[:256])
        if 200 <= response.status_code < 300:
            return Outcome(response.status_code, None)
        return Outcome(response.status_code, f"HTTP {response.status_code}")
