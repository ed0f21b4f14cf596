"""schemathesis against the campaign and do-not-call routes (the app with a
dialer, on a SQLite store; no call is placed): whatever it sends with an
admin key, nothing answers 500."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.api_app import app_without_calls

pytestmark = pytest.mark.integration


_plane, _admin, app = app_without_calls("mediaserver-campaign-schema-")
schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
    path_regex="^/(campaigns|dnc)"
)


@schema.parametrize()
@settings(max_examples=30, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_request_makes_the_campaign_api_fail(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_admin}"}, checks=[not_a_server_error]
    )
