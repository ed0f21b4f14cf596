"""[tools]: where agents' HTTP tools may be called, and the secrets their
headers name."""

from __future__ import annotations

from dataclasses import dataclass, field

from mediaserver.config_base import ConfigError


@dataclass(frozen=True, slots=True)
class ToolsConfig:
    # networks a tool may reach although private, loopback or link-local: ["127.0.0.1/32"]
    allow: tuple[str, ...] = ()
    # what "${NAME}" in a tool's header stands for (the environment is asked after these)
    secrets: dict[str, str] = field(default_factory=dict)
    max_response_bytes: int = 65536  # a tool's answer; larger ones are refused

    def __post_init__(self) -> None:
        from mediaserver.netguard import networks

        try:
            networks(self.allow)
        except ValueError as exc:
            raise ConfigError(f"tools.allow: {exc}") from None
        if not 1024 <= self.max_response_bytes <= 16 * 1024 * 1024:
            raise ConfigError("tools.max_response_bytes: between 1024 and 16777216")
