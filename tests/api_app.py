"""The control plane's HTTP app in process on its own SQLite store, with a
dialer that places no calls: for the schemathesis tests of the outbound APIs."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import FastAPI

from mediaserver.agents import DEFAULT_AGENT, AgentBook
from mediaserver.app import ControlPlane, control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, ServerConfig
from mediaserver.dialer import Dialer, DialOptions


class NoCalls:
    async def dial(
        self, uri: str, agent: object, version: int, options: DialOptions
    ) -> tuple[str, int, str, str]:
        return "failed", 0, "no calls in this test", ""


def app_without_calls(prefix: str) -> tuple[ControlPlane, str, FastAPI]:
    """(the plane, an admin key, the app) on a fresh store."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    config = Config(
        server=ServerConfig(data_dir=str(root / "data")),
        api=ApiConfig(store_url=f"sqlite:///{root / 'store.db'}", rate_burst=1_000_000),
    )
    plane = control_plane(config)
    admin = plane.store.create_key("admin")
    dialer = Dialer(
        NoCalls(), AgentBook(DEFAULT_AGENT, plane.store), plane.metrics, trunk_host="127.0.0.1"
    )
    return plane, admin, create_http_app(config, plane, lambda: {"models": True}, dialer=dialer)
