"""schemathesis against the server's own OpenAPI schema: whatever it sends,
with an admin key, nothing answers 500 (SQLite store; real app, in process)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, ServerConfig

pytestmark = pytest.mark.integration

_root = Path(tempfile.mkdtemp(prefix="mediaserver-schema-"))
_config = Config(
    server=ServerConfig(data_dir=str(_root / "data")),
    api=ApiConfig(store_url=f"sqlite:///{_root / 'store.db'}", rate_burst=1_000_000),
)
_plane = control_plane(_config)
_admin = _plane.store.create_key("admin")
_plane.store.put_agent("default", {"greeting": "Hello"})
_call = _plane.store.call_created(transport="sip", direction="inbound", agent="default")
_plane.store.add_turn(_call, "caller", "hello", start_s=0.1, end_s=0.9)
app = create_http_app(_config, _plane, lambda: {"models": True, "sip": True})
# GET /live is an event stream that runs 5 minutes by design (test_live_api
# and test_control_plane read it); everything else is fuzzed
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/live", method="GET")


@schema.parametrize()
@settings(max_examples=40, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_request_makes_the_api_fail(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_admin}"}, checks=[not_a_server_error]
    )
