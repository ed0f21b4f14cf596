"""A ToolRunner for each call whose agent has tools: its agent's signing
key (from the store, read off the loop), the server's [tools] settings."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from mediaserver.config_tools import ToolsConfig
from mediaserver.netguard import networks
from mediaserver.tools.http import HttpTools
from mediaserver.tools.secret import tool_secret

if TYPE_CHECKING:
    from mediaserver.agents import Agent
    from mediaserver.store import Store


class ToolRunners:
    def __init__(self, config: ToolsConfig, store: Store | None) -> None:
        self.config = config
        self.store = store
        self.allowed = networks(config.allow)

    async def for_call(self, agent: Agent, call_id: str) -> HttpTools | None:
        """The call's runner (close it with the call); None: the agent has no tools."""
        if not agent.tools:
            return None
        secret = ""
        if self.store is not None:
            loop = asyncio.get_running_loop()
            secret = await loop.run_in_executor(None, tool_secret, self.store, agent.name)
        return HttpTools(
            secret,
            self.allowed,
            self.config.secrets,
            call_id=call_id,
            max_response_bytes=self.config.max_response_bytes,
        )
