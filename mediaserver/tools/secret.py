"""Each agent's key for signing its tool requests: made on first use, kept in
the store's settings (the tool's server gets it from POST /agents/{name}/tool-secret)."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mediaserver.store import Store


def tool_secret(store: Store, agent: str) -> str:
    """Blocking (the store): call it off the event loop."""
    key = "tool_secret:" + hashlib.sha256(agent.encode()).hexdigest()[:40]  # fits settings.key
    return store.setting(key, lambda: secrets.token_urlsafe(32))
