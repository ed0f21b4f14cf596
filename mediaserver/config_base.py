"""What every config section shares: the error and the check that raises it."""

from __future__ import annotations


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")
