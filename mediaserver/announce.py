"""What `serve` tells the person who started it, once it listens."""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn

from mediaserver.api.auth import CallTokens
from mediaserver.config import Config


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, calling `on_listening` once its sockets are bound."""

    def __init__(self, on_listening: Callable[[], None], config: uvicorn.Config) -> None:
        super().__init__(config)
        self.on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.on_listening()


def announce(config: Config, tokens: CallTokens) -> None:
    """Tell the person who started the server what to open."""
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (reading the config, not binding)
        host = "127.0.0.1"
    base = f"http://{host}:{config.server.http_port}"
    token = tokens.issue()
    print(
        f"\nmediaserver is ready (SIP on port {config.server.sip_port}).\n"
        f"  call the agent from this browser: {base}/ui/phone.html#token={token}\n"
        f"    (the token is valid {tokens.ttl_seconds // 60} minutes; "
        "`mediaserver tokens create` makes another)\n"
        f"  see the calls: {base}/ui/calls.html\n"
        "    (with an API key from `.venv/bin/mediaserver keys create --role admin`)\n",
        flush=True,
    )
