"""schemathesis against the campaign and do-not-call routes (the app with a
dialer, on a SQLite store; no call is placed): whatever it sends with an
admin key, nothing answers 500."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from mediaserver.agents import DEFAULT_AGENT, AgentBook
from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, ServerConfig
from mediaserver.dialer import Dialer

pytestmark = pytest.mark.integration


class NoCalls:
    async def dial(self, *args: object, **kwargs: object) -> tuple[str, int, str, str]:
        return "failed", 0, "no calls in this test", ""


_root = Path(tempfile.mkdtemp(prefix="mediaserver-campaign-schema-"))
_config = Config(
    server=ServerConfig(data_dir=str(_root / "data")),
    api=ApiConfig(store_url=f"sqlite:///{_root / 'store.db'}", rate_burst=1_000_000),
)
_plane = control_plane(_config)
_admin = _plane.store.create_key("admin")
_dialer = Dialer(
    NoCalls(), AgentBook(DEFAULT_AGENT, _plane.store), _plane.metrics, trunk_host="127.0.0.1"
)
app = create_http_app(_config, _plane, lambda: {"models": True}, dialer=_dialer)
schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
    path_regex="^/(campaigns|dnc)"
)


@schema.parametrize()
@settings(max_examples=30, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_request_makes_the_campaign_api_fail(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_admin}"}, checks=[not_a_server_error]
    )
