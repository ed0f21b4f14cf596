"""The webhooks' outbox and API on the real stores (SQLite and PostgreSQL),
and the call events the call log writes into the outbox."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mediaserver.analysis.worker import AnalysisWorker
from mediaserver.app import ControlPlane, control_plane, create_http_app
from mediaserver.config import AnalysisConfig, ApiConfig, Config, ServerConfig, WebhooksConfig
from mediaserver.store.analysis import pending_analyses, set_analysis
from mediaserver.store.db import utcnow
from mediaserver.store.outbox import DELIVERED, FAILED, PENDING, OutboxStore
from mediaserver.webhooks.outbox import CallEvents, Outbox

pytestmark = pytest.mark.integration


def config_for(store_url: str, tmp_path: Path, allow: tuple[str, ...] = ()) -> Config:
    return Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=store_url),
        webhooks=WebhooksConfig(allow=allow),
    )


@pytest.fixture
def plane(store_url: str, tmp_path: Path) -> ControlPlane:
    return control_plane(config_for(store_url, tmp_path))


def client_for(plane: ControlPlane, tmp_path: Path, allow: tuple[str, ...] = ()) -> TestClient:
    config = config_for(plane.store.url, tmp_path, allow)
    app = create_http_app(config, plane, lambda: {"models": True, "sip": True})
    key = plane.store.create_key("admin")
    return TestClient(app, headers={"Authorization": f"Bearer {key}"})


def test_an_event_is_written_once_per_webhook_that_wants_it(plane: ControlPlane) -> None:
    rows = OutboxStore(plane.store.engine)
    everything = rows.create_webhook("http://a.example/", ["call.ended"], "s1", None, None)
    for_sales = rows.create_webhook("http://b.example/", ["call.ended"], "s2", "sales", None)
    for_spring = rows.create_webhook("http://c.example/", ["call.ended"], "s3", None, "spring")
    rows.create_webhook("http://d.example/", ["call.started"], "s4", None, None)
    outbox = Outbox(plane.store)
    sales = outbox.emit("call.ended", {"n": 1}, agent="sales")
    spring = outbox.emit("call.ended", {"n": 2}, agent="support", campaign="spring")
    due = rows.due(utcnow())
    assert sorted((d.url, d.event_id) for d in due) == sorted(
        [
            ("http://a.example/", sales),
            ("http://b.example/", sales),
            ("http://a.example/", spring),
            ("http://c.example/", spring),
        ]
    )
    body = json.loads(next(d.body for d in due if d.event_id == spring))
    assert (body["id"], body["type"], body["data"]) == (spring, "call.ended", {"n": 2})
    # attempts move a delivery on: retried later, delivered, failed
    first, second, third = (d for d in due if d.url != "http://c.example/")
    rows.attempted(first.id, at=utcnow(), status=500, error="HTTP 500", retry_in=60)
    rows.attempted(second.id, at=utcnow(), status=200, error=None, retry_in=None)
    rows.attempted(third.id, at=utcnow(), status=None, error="refused", retry_in=None)
    assert {d.id for d in rows.due(utcnow())} == {d.id for d in due} - {
        first.id,
        second.id,
        third.id,
    }
    assert first.id in {d.id for d in rows.due(utcnow() + timedelta(seconds=61))}
    states = {d["id"]: d["state"] for d in rows.deliveries(everything["id"])}
    states |= {d["id"]: d["state"] for d in rows.deliveries(for_sales["id"])}
    assert states[first.id] == PENDING
    assert {states[second.id], states[third.id]} == {DELIVERED, FAILED}
    # deleting a webhook takes its outbox rows with it
    assert rows.delete_webhook(for_spring["id"])
    assert all(d.url != "http://c.example/" for d in rows.due(utcnow()))


def test_call_events_follow_the_call_log_and_wait_for_its_analysis(plane: ControlPlane) -> None:
    rows = OutboxStore(plane.store.engine)
    hook = rows.create_webhook(
        "http://a.example/", ["call.started", "call.answered", "call.ended"], "s", None, None
    )
    plane.store.put_agent("sales", {"analysis": {"enabled": True, "dispositions": ["yes"]}})
    queued: list[str] = []
    plane.records.events = CallEvents(Outbox(plane.store), "https://ms.example", queued.append)

    async def call(agent: str, agent_version: int = 0) -> str:
        log = plane.records.open(
            transport="websocket", agent=agent, direction="inbound", agent_version=agent_version
        )
        log.answered()
        log.ended("caller_hangup")
        return log.id

    plain = asyncio.run(call("default"))
    assert plane.records.writer.flush()
    types = [json.loads(d.body)["type"] for d in rows.due(utcnow())]
    assert types == ["call.started", "call.answered", "call.ended"]
    ended = json.loads(rows.due(utcnow())[-1].body)["data"]
    assert ended["call_id"] == plain and ended["analysis"] is None and ended["transcript"] == []

    # an agent with analysis: call.ended waits for it, the call is left pending (durably)
    with plane.store.engine.begin() as c:
        c.exec_driver_sql("DELETE FROM webhook_deliveries")
    analysed = asyncio.run(call("sales", agent_version=1))
    assert plane.records.writer.flush()
    assert queued == [analysed]
    assert pending_analyses(plane.store.engine) == [analysed]
    types = [json.loads(d.body)["type"] for d in rows.due(utcnow())]
    assert types == ["call.started", "call.answered"]
    assert rows.deliveries(hook["id"])[0]["event_type"] == "call.answered"
    set_analysis(plane.store.engine, analysed, {"status": "done"})
    assert pending_analyses(plane.store.engine) == []


def test_bad_webhooks_are_refused_with_422_and_nothing_is_stored(
    plane: ControlPlane, tmp_path: Path
) -> None:
    client = client_for(plane, tmp_path)
    for body, reason in [
        ({"url": "ftp://example.com/", "events": ["call.ended"]}, "http"),
        ({"url": "not a url", "events": ["call.ended"]}, "http"),
        ({"url": "http://127.0.0.1:9/", "events": ["call.ended"]}, "loopback"),
        ({"url": "http://10.0.0.7/", "events": ["call.ended"]}, "private"),
        ({"url": "http://169.254.169.254/latest", "events": ["call.ended"]}, "link-local"),
        ({"url": "http://[::1]:80/", "events": ["call.ended"]}, "loopback"),
        ({"url": "http://93.184.216.34/", "events": ["call.exploded"]}, "call.ended"),
        ({"url": "http://93.184.216.34/", "events": []}, "at least 1"),
        ({"url": "http://93.184.216.34/", "events": ["call.ended"], "agent": "Bad Name"}, "agent"),
        ({"url": "http://93.184.216.34/", "events": ["call.ended"], "token": "x"}, "token"),
    ]:
        response = client.post("/webhooks", json=body)
        assert response.status_code == 422, (body, response.text)
        assert reason in response.text, (body, response.text)
    assert client.get("/webhooks").json() == []


def test_a_webhook_shows_its_secret_once_and_lists_its_deliveries(
    plane: ControlPlane, tmp_path: Path
) -> None:
    client = client_for(plane, tmp_path, allow=("127.0.0.1/32",))
    created = client.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["call.ended"]}
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in client.get(f"/webhooks/{hook['id']}").json()
    assert all("secret" not in h for h in client.get("/webhooks").json())
    event = Outbox(plane.store).emit("call.ended", {"call_id": "x"})
    [delivery] = client.get(f"/webhooks/{hook['id']}/deliveries").json()
    assert (delivery["event_id"], delivery["state"], delivery["attempts"]) == (event, "pending", 0)
    assert client.delete(f"/webhooks/{hook['id']}").status_code == 204
    assert client.get(f"/webhooks/{hook['id']}").status_code == 404
    assert client.delete(f"/webhooks/{hook['id']}").status_code == 404
    assert client.get("/webhooks/0123456789abcdef/deliveries").status_code == 404


def test_an_agents_analysis_schema_must_be_a_json_schema(
    plane: ControlPlane, tmp_path: Path
) -> None:
    client = client_for(plane, tmp_path)
    bad = {"name": "sales", "analysis": {"schema": {"type": "nonsense"}}}
    response = client.post("/agents", json=bad)
    assert response.status_code == 422 and "JSON Schema" in response.text
    good = {
        "name": "sales",
        "analysis": {"dispositions": ["yes", "no"], "schema": {"type": "object"}},
    }
    response = client.post("/agents", json=good)
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["analysis"] == {
        "enabled": True,
        "dispositions": ["yes", "no"],
        "schema": {"type": "object"},
    }


class OneAnswer:
    """The Speech port's reply: one scripted answer; counts the questions."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.asked = 0

    async def reply(self, messages: object, max_tokens: int, temperature: float) -> Any:
        self.asked += 1
        yield self.answer


def test_the_analysis_waits_for_live_calls_then_sends_call_ended_with_it(
    plane: ControlPlane,
) -> None:
    rows = OutboxStore(plane.store.engine)
    rows.create_webhook("http://a.example/", ["call.ended", "call.analyzed"], "s", None, None)
    plane.store.put_agent(
        "sales",
        {"analysis": {"enabled": True, "dispositions": ["yes", "no"], "schema": {}}},
    )
    call_id = plane.store.call_created(
        transport="websocket", direction="inbound", agent="sales", agent_version=1
    )
    plane.store.add_turn(call_id, "caller", "Yes please.", start_s=0.0, end_s=1.0)
    plane.store.call_ended(call_id, "caller_hangup")
    answer = '{"summary": "Said yes.", "disposition": "yes", "sentiment": "positive", "fields": {}}'
    speech = OneAnswer(answer)
    live = {"calls": 1}

    async def scenario() -> None:
        async def speech_for(agent: str) -> Any:
            return speech

        events = CallEvents(Outbox(plane.store))
        worker = AnalysisWorker(
            plane.store,
            events,
            speech_for,
            AnalysisConfig(sweep_seconds=0.1),
            busy=lambda: live["calls"] > 0,
        )
        events.analyze = worker.submit
        task = asyncio.create_task(worker.run())
        await asyncio.to_thread(events.ended, call_id)
        await asyncio.sleep(2)
        assert speech.asked == 0  # a call is live: the model is left to it
        assert plane.store.get_call(call_id)["analysis"] == {
            "status": "pending",
            "then": "call.ended",
        }
        live["calls"] = 0
        for _ in range(100):
            if worker.analysed:
                break
            await asyncio.sleep(0.1)
        task.cancel()

    asyncio.run(scenario())
    stored = plane.store.get_call(call_id)["analysis"]
    assert stored["status"] == "done" and stored["disposition"] == "yes", stored
    [ended] = [json.loads(d.body) for d in rows.due(utcnow())]
    assert ended["type"] == "call.ended" and ended["data"]["analysis"] == stored


def test_an_agent_update_without_analysis_keeps_it_and_null_removes_it(
    plane: ControlPlane, tmp_path: Path
) -> None:
    client = client_for(plane, tmp_path)
    analysis = {"enabled": True, "dispositions": ["yes"], "schema": {}}
    assert client.post("/agents", json={"name": "sales", "analysis": analysis}).status_code == 201
    kept = client.put("/agents/sales", json={"greeting": "Hi there."})  # e.g. the console's form
    assert kept.status_code == 200 and kept.json()["spec"]["analysis"] == analysis
    dropped = client.put("/agents/sales", json={"greeting": "Hi.", "analysis": None})
    assert dropped.json()["spec"]["analysis"] is None


def test_an_analysis_whose_models_cannot_be_had_is_failed_not_retried_forever(
    plane: ControlPlane,
) -> None:
    plane.store.put_agent("sales", {"analysis": {"enabled": True}})
    call_id = plane.store.call_created(
        transport="websocket", direction="inbound", agent="sales", agent_version=1
    )
    plane.store.call_ended(call_id, "caller_hangup")
    set_analysis(plane.store.engine, call_id, {"status": "pending", "then": "call.ended"})

    async def scenario() -> Any:
        async def speech_for(agent: str) -> Any:
            raise RuntimeError("no such model")

        worker = AnalysisWorker(
            plane.store,
            CallEvents(Outbox(plane.store)),
            speech_for,
            AnalysisConfig(),
            busy=lambda: False,
        )
        return await worker.analyse(call_id)

    result = asyncio.run(scenario())
    assert result == {"status": "failed", "reason": "RuntimeError: no such model"}
    assert plane.store.get_call(call_id)["analysis"] == result
    assert pending_analyses(plane.store.engine) == []


def test_a_rerun_is_refused_for_a_live_call_or_an_agent_without_analysis(
    plane: ControlPlane, tmp_path: Path
) -> None:
    queued: list[str] = []
    config = config_for(plane.store.url, tmp_path)
    app = create_http_app(config, plane, lambda: {"models": True}, analyze=queued.append)
    key = plane.store.create_key("admin")
    client = TestClient(app, headers={"Authorization": f"Bearer {key}"})
    plane.store.put_agent("sales", {"analysis": {"enabled": True}})

    def call(agent: str, version: int, ended: bool) -> str:
        call_id = plane.store.call_created(
            transport="sip", direction="inbound", agent=agent, agent_version=version
        )
        if ended:
            plane.store.call_ended(call_id, "hangup")
        return call_id

    live, plain = call("sales", 1, ended=False), call("default", 0, ended=True)
    assert client.post(f"/calls/{live}/analysis").status_code == 409
    refused = client.post(f"/calls/{plain}/analysis")
    assert refused.status_code == 409 and "no analysis" in refused.text
    assert client.post("/calls/nope/analysis").status_code == 404
    assert queued == []
    done = call("sales", 1, ended=True)
    set_analysis(plane.store.engine, done, {"status": "done"})
    assert client.post(f"/calls/{done}/analysis").status_code == 202
    assert queued == [done]
    detail = client.get(f"/calls/{done}").json()
    assert detail["analysis"] == {"status": "pending", "then": "call.analyzed"}


def test_a_finished_campaign_is_a_campaign_finished_event_with_its_lead_counts(
    plane: ControlPlane,
) -> None:
    from mediaserver.campaigns.events import AttemptEnded, CampaignFinished
    from mediaserver.store.campaigns import CampaignStore
    from mediaserver.webhooks.campaigns import campaign_events

    rows = OutboxStore(plane.store.engine)
    rows.create_webhook("http://crm.example/", ["campaign.finished"], "s1", None, "spring")
    rows.create_webhook("http://other.example/", ["campaign.finished"], "s2", None, "autumn")
    campaign = CampaignStore(plane.store).create("spring", {"name": "spring"})

    async def finish() -> None:
        on_event = campaign_events(plane.store)
        on_event(AttemptEnded(campaign["id"], 1, "+14155550101", 1, "answered", 200, None, "x"))
        on_event(CampaignFinished(campaign["id"], "spring"))
        for _ in range(100):  # written off the event loop
            if rows.due(utcnow()):
                return
            await asyncio.sleep(0.05)

    asyncio.run(finish())
    [due] = rows.due(utcnow())  # the spring webhook's alone; nothing for the attempt
    body = json.loads(due.body)
    assert due.url == "http://crm.example/" and body["type"] == "campaign.finished"
    assert body["data"]["campaign_id"] == campaign["id"] and body["data"]["name"] == "spring"
    assert body["data"]["leads"] == campaign["leads"]
