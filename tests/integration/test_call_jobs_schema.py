"""schemathesis against POST /calls and GET /outbound (the app with a dialer,
on a SQLite store; the jobs are stored, no runner dials them): whatever it
sends with an admin key, nothing answers 500, and a refused request stores
no job."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from mediaserver.store.call_jobs import CallJobs
from tests.api_app import app_without_calls

pytestmark = pytest.mark.integration


_plane, _admin, app = app_without_calls("mediaserver-calls-schema-")
schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
    path_regex="^/(calls$|outbound)"
)


@schema.parametrize()
@settings(max_examples=60, suppress_health_check=list(HealthCheck), deadline=None)
def test_no_request_makes_the_call_api_fail(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_admin}"}, checks=[not_a_server_error]
    )


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("not a number", "neither a number"),
        ("sip:a@b\r\nX: y", "control characters"),
        ("sip:a@b\x00", "control characters"),
        ("sip:" + "a" * 252 + "@" + "b" * 70, "at most 256 characters"),
        ("+14155550123", "no trunk 'pbx'"),
    ],
)
def test_a_call_that_cannot_be_placed_is_refused_and_no_job_is_stored(to: str, reason: str) -> None:
    before = CallJobs(_plane.store).recent(1000)
    client = TestClient(app)
    refused = client.post(
        "/calls",
        json={"to": to, "trunk": "pbx" if to.startswith("+") else "default"},
        headers={"Authorization": f"Bearer {_admin}"},
    )
    assert refused.status_code == 422, refused.text
    assert reason in refused.text, refused.text
    assert CallJobs(_plane.store).recent(1000) == before


def test_the_queue_depth_metric_counts_the_stored_jobs_waiting() -> None:
    client = TestClient(app)
    admin = {"Authorization": f"Bearer {_admin}"}
    placed = client.post("/calls", json={"to": "sip:callee@127.0.0.1:9"}, headers=admin)
    assert placed.status_code == 202 and placed.json()["state"] == "queued", placed.text
    waiting = CallJobs(_plane.store).waiting()
    assert waiting >= 1
    scraped = client.get("/metrics", headers=admin).text
    assert f"mediaserver_outbound_queue_depth {float(waiting)}" in scraped, scraped[:2000]
