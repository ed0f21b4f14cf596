"""Config of what happens after and around calls: webhooks ([webhooks]) and
the post-call analysis ([analysis])."""

from __future__ import annotations

from dataclasses import dataclass

from mediaserver.config_base import require


@dataclass(frozen=True, slots=True)
class WebhooksConfig:
    """Where and how events are delivered. Destinations on loopback, private,
    link-local or otherwise non-public addresses are refused unless a network
    in `allow` holds them (e.g. ["127.0.0.1/32"] for a receiver on this box)."""

    allow: tuple[str, ...] = ()
    timeout_seconds: float = 10.0  # one delivery attempt
    retry_base_seconds: float = 5.0  # the first retry's delay; it doubles on each failure
    retry_max_seconds: float = 3600.0  # no delay is longer
    max_attempts: int = 12  # then the delivery is marked failed
    poll_seconds: float = 1.0  # how often the outbox is read for what is due
    public_url: str = ""  # prefixes the recording URL in call.ended ("": a path only)

    def __post_init__(self) -> None:
        from mediaserver.netguard import networks

        try:
            networks(self.allow)
        except ValueError as exc:
            require(False, "webhooks.allow", str(exc))
        require(0.1 <= self.timeout_seconds <= 120, "webhooks.timeout_seconds", "0.1..120")
        require(
            0.01 <= self.retry_base_seconds <= 3600, "webhooks.retry_base_seconds", "0.01..3600"
        )
        require(
            self.retry_base_seconds <= self.retry_max_seconds <= 86400,
            "webhooks.retry_max_seconds",
            "expected retry_base_seconds up to 86400",
        )
        require(1 <= self.max_attempts <= 100, "webhooks.max_attempts", "expected 1..100")
        require(0.01 <= self.poll_seconds <= 60, "webhooks.poll_seconds", "expected 0.01..60")
        require(
            not self.public_url or self.public_url.startswith(("http://", "https://")),
            "webhooks.public_url",
            "expected an http(s):// URL",
        )


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    """The post-call analysis worker: one call at a time, after live calls."""

    max_tokens: int = 400  # the model's answer (summary, disposition, fields)
    queue: int = 100  # calls waiting in memory; more are found by the sweep
    sweep_seconds: float = 30.0  # how often the store is read for calls still pending
    # live calls go first; a call waits at most this long for them all to end
    max_wait_seconds: float = 600.0

    def __post_init__(self) -> None:
        require(50 <= self.max_tokens <= 4000, "analysis.max_tokens", "expected 50..4000")
        require(1 <= self.queue <= 100_000, "analysis.queue", "expected 1..100000")
        require(0.05 <= self.sweep_seconds <= 3600, "analysis.sweep_seconds", "0.05..3600")
        require(0 <= self.max_wait_seconds <= 86400, "analysis.max_wait_seconds", "0..86400")
