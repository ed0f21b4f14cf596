"""The control plane against real stores (SQLite and PostgreSQL): agents with
versions, call records written as calls go, API keys and roles, rate limits,
recordings with Range, /metrics, the OpenAPI schema under schemathesis."""

from __future__ import annotations

import asyncio
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mediaserver.app import ControlPlane, control_plane, create_http_app
from mediaserver.calllog import Records
from mediaserver.config import ApiConfig, Config, ServerConfig
from mediaserver.events import AgentSpoke, Dtmf, Hangup, Transcript
from mediaserver.metrics import Metrics
from mediaserver.store import CallFilter, Store

pytestmark = pytest.mark.integration


def config_for(store_url: str, tmp_path: Path, **api: object) -> Config:
    return Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=store_url, **api),  # type: ignore[arg-type]
    )


@pytest.fixture
def plane(store_url: str, tmp_path: Path) -> ControlPlane:
    return control_plane(config_for(store_url, tmp_path))


@pytest.fixture
def client(plane: ControlPlane, tmp_path: Path) -> TestClient:
    app = create_http_app(
        config_for(plane.store.url, tmp_path), plane, lambda: {"models": True, "sip": True}
    )
    return TestClient(app)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- the store -----------------------------------------------------------------
def test_an_agent_keeps_every_version(store_url: str) -> None:
    store = Store.open(store_url)
    assert store.put_agent("sales", {"greeting": "one"})["version"] == 1
    assert store.put_agent("sales", {"greeting": "two"})["version"] == 2
    assert store.get_agent("sales")["spec"] == {"greeting": "two"}  # type: ignore[index]
    assert store.get_agent("sales", 1)["spec"] == {"greeting": "one"}  # type: ignore[index]
    assert store.delete_agent("sales") and store.get_agent("sales") is None
    assert store.get_agent("sales", 2) is not None  # calls that ran it can still say what it was
    assert store.put_agent("sales", {"greeting": "three"})["version"] == 3


def test_calls_are_listed_with_filters_and_pages(store_url: str) -> None:
    store = Store.open(store_url)
    ids = []
    for n in range(5):
        call = store.call_created(
            transport="sip",
            direction="inbound" if n % 2 == 0 else "outbound",
            agent="front" if n < 3 else "sales",
            from_uri=f"sip:{n}@example.invalid",
        )
        store.add_turn(call, "caller", f"question number {n}", start_s=1.0, end_s=2.0)
        store.call_ended(call, "caller_hangup" if n else "silence", 200)
        ids.append(call)
    assert store.list_calls(CallFilter())[0] == 5
    assert store.list_calls(CallFilter(agent="sales"))[0] == 2
    assert store.list_calls(CallFilter(direction="outbound"))[0] == 2
    assert [c["id"] for c in store.list_calls(CallFilter(end_reason="silence"))[1]] == [ids[0]]
    assert [c["id"] for c in store.list_calls(CallFilter(text="NUMBER 3"))[1]] == [ids[3]]
    assert store.list_calls(CallFilter(text="100%"))[0] == 0  # LIKE wildcards are literal
    assert store.list_calls(CallFilter(text="_"))[0] == 0  # "_" too, not any one character
    assert store.list_calls(CallFilter(text="number_3"))[0] == 0
    total, page = store.list_calls(CallFilter(limit=2, offset=2))
    assert total == 5 and len(page) == 2
    every = [c["id"] for c in store.list_calls(CallFilter(limit=10))[1]]
    assert sorted(every) == sorted(ids)
    later = datetime.now(UTC) + timedelta(hours=1)
    assert store.list_calls(CallFilter(since=later))[0] == 0
    assert store.list_calls(CallFilter(until=later))[0] == 5


def test_a_call_left_open_is_closed_as_unclean_at_the_next_start(store_url: str) -> None:
    store = Store.open(store_url)
    call = store.call_created(transport="sip", direction="inbound", agent="default")
    store.add_turn(call, "caller", "hello", start_s=0.5, end_s=1.0)
    done = store.call_created(transport="sip", direction="inbound", agent="default")
    store.call_ended(done, "caller_hangup", 200)
    assert Store.open(store_url).close_unclean() == 1
    record = store.get_call(call)
    assert record is not None and record["end_reason"] == "unclean"
    assert [t["text"] for t in record["turns"]] == ["hello"]
    assert store.get_call(done)["end_reason"] == "caller_hangup"  # type: ignore[index]


def test_keys_are_stored_hashed_and_can_be_revoked(store_url: str) -> None:
    store = Store.open(store_url)
    key = store.create_key("viewer", "grafana")
    key_id, secret = key.split("_")[1], key.split("_", 2)[2]
    assert store.key_role(key) == (key_id, "viewer")
    with store.engine.connect() as c:
        dump = " ".join(str(row) for row in c.exec_driver_sql("SELECT * FROM api_keys"))
    assert secret not in dump
    assert store.key_role(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.key_role("garbage") is None and store.key_role("msk__") is None
    assert store.revoke_key(key_id) and store.key_role(key) is None


def test_a_call_log_writes_turns_as_they_happen(plane: ControlPlane) -> None:
    async def scenario() -> None:
        record = plane.records.open(transport="sip", direction="inbound", agent="default")
        record.answered()
        record.on_event(Transcript("what time do you open", 16000, 40000), 16000)
        record.on_event(
            AgentSpoke("We open at nine.", 10.0, 12.0, False, (("first_audio_out", 640.0),)), 16000
        )
        record.on_event(Dtmf("5"), 16000)
        plane.records.writer.flush()
        live = plane.store.get_call(record.id)
        assert live is not None and live["ended_at"] is None  # written before the call ends
        assert [(t["speaker"], t["text"]) for t in live["turns"]] == [
            ("caller", "what time do you open"),
            ("agent", "We open at nine."),
        ]
        assert live["turns"][0]["start_s"] == 1.0 and live["turns"][0]["end_s"] == 2.5
        assert live["turns"][1]["timings_ms"] == {"first_audio_out": 640.0}
        assert [(e["kind"], e["value"]) for e in live["events"]] == [("dtmf", "5")]
        record.on_event(Hangup("silence"), 16000)
        record.ended("caller_hangup", 200)
        record.ended("later", 500)  # the first end stands
        plane.records.writer.flush()
        assert plane.store.get_call(record.id)["end_reason"] == "silence"  # type: ignore[index]

    asyncio.run(scenario())


# -- the API -------------------------------------------------------------------
STREAMS = {"/live"}  # server-sent events


def operations(client: TestClient) -> list[tuple[str, str]]:
    schema = client.get("/openapi.json").json()
    return [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if path != "/healthz"
    ]


def test_every_endpoint_but_healthz_needs_a_key_and_writes_need_admin(
    store_url: str, tmp_path: Path
) -> None:
    # one wrong key per endpoint: more than the default throttle allows one address
    config = config_for(store_url, tmp_path, auth_failures=10_000)
    plane = control_plane(config)
    client = TestClient(create_http_app(config, plane, lambda: {"models": True, "sip": True}))
    viewer, admin = plane.store.create_key("viewer"), plane.store.create_key("admin")
    ops = operations(client)
    assert ("GET", "/calls") in ops and ("POST", "/agents") in ops and ("GET", "/metrics") in ops
    for method, path in ops:
        url = path.replace("{name}", "default").replace("{call_id}", "x").replace("{version}", "1")
        assert client.request(method, url).status_code == 401, (method, path)
        assert client.request(method, url, headers=bearer("msk_nope_nope")).status_code == 401
        if path in STREAMS:
            continue  # a key opens a stream that lasts minutes: tests/integration/test_live_api.py
        as_viewer = client.request(method, url, headers=bearer(viewer), json={}).status_code
        as_admin = client.request(method, url, headers=bearer(admin), json={}).status_code
        assert as_admin not in (401, 403), (method, path, as_admin)
        assert as_viewer == (403 if method != "GET" else as_admin), (method, path, as_viewer)
    assert client.get("/healthz").status_code == 200


def test_a_key_over_its_rate_gets_429(store_url: str, tmp_path: Path) -> None:
    config = config_for(store_url, tmp_path, rate_per_second=0.5, rate_burst=3)
    plane = control_plane(config)
    client = TestClient(create_http_app(config, plane, dict))
    key = bearer(plane.store.create_key("viewer"))
    codes = [client.get("/calls", headers=key).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    assert int(client.get("/calls", headers=key).headers["Retry-After"]) >= 1
    other = bearer(plane.store.create_key("viewer"))
    assert client.get("/calls", headers=other).status_code == 200  # limits are per key


def test_agents_crud_keeps_versions_and_names_bad_fields(
    client: TestClient, plane: ControlPlane
) -> None:
    admin = bearer(plane.store.create_key("admin"))
    made = client.post("/agents", headers=admin, json={"name": "sales", "greeting": "Hi!"})
    assert made.status_code == 201 and made.json()["version"] == 1
    assert client.post("/agents", headers=admin, json={"name": "sales"}).status_code == 409
    changed = client.put("/agents/sales", headers=admin, json={"greeting": "Hello!"})
    assert changed.json()["version"] == 2 and changed.json()["spec"]["greeting"] == "Hello!"
    old = client.get("/agents/sales/versions/1", headers=admin).json()
    assert old["spec"]["greeting"] == "Hi!"
    bad = client.put(
        "/agents/sales",
        headers=admin,
        json={
            "greeting": "",
            "transfer_target": "tel:123",
            "max_call_seconds": 1,
            "stt_prompt": "x" * 1001,
        },
    )
    assert bad.status_code == 422
    fields = {error["loc"][-1] for error in bad.json()["detail"]}
    assert fields == {"greeting", "transfer_target", "max_call_seconds", "stt_prompt"}
    hints = client.put("/agents/sales", headers=admin, json={"stt_prompt": "Dr. Okafor"})
    assert hints.json()["spec"]["stt_prompt"] == "Dr. Okafor"
    menu = [{"digit": "1", "language": "en", "greeting": "Hi"}] * 2
    bad_menu = client.put("/agents/sales", headers=admin, json={"ivr_menu": menu})
    assert bad_menu.status_code == 422 and "ivr_menu" in str(bad_menu.json()["detail"])
    assert client.put("/agents/sales", headers=admin, content=b"{nope").status_code == 422
    assert client.post("/agents", headers=admin, json={"name": "Bad Name!"}).status_code == 422
    assert [a["name"] for a in client.get("/agents", headers=admin).json()] == ["sales"]
    assert client.delete("/agents/sales", headers=admin).status_code == 204
    assert client.get("/agents/sales", headers=admin).status_code == 404
    assert client.delete("/agents/sales", headers=admin).status_code == 404


def test_a_recording_streams_with_range_requests(
    client: TestClient, plane: ControlPlane, tmp_path: Path
) -> None:
    path = plane.data_dir / "recordings" / "call.wav"
    path.parent.mkdir(parents=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.arange(32000, dtype="<i2").tobytes())
    call = plane.store.call_created(transport="sip", direction="inbound", agent="default")
    plane.store.update_call(call, recording_path=str(path))
    key = bearer(plane.store.create_key("viewer"))
    whole = client.get(f"/calls/{call}/recording", headers=key)
    assert whole.status_code == 200 and whole.content == path.read_bytes()
    assert whole.headers["content-type"] == "audio/wav"
    part = client.get(f"/calls/{call}/recording", headers={**key, "Range": "bytes=44-143"})
    assert part.status_code == 206 and part.content == path.read_bytes()[44:144]
    assert part.headers["content-range"] == f"bytes 44-143/{path.stat().st_size}"
    beyond = client.get(f"/calls/{call}/recording", headers={**key, "Range": "bytes=999999-"})
    assert beyond.status_code == 416
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"RIFF")
    plane.store.update_call(call, recording_path=str(outside))
    assert client.get(f"/calls/{call}/recording", headers=key).status_code == 404
    assert client.get("/calls/nope/recording", headers=key).status_code == 404


def test_metrics_parse_and_count_calls_and_latency(client: TestClient, plane: ControlPlane) -> None:
    async def scenario() -> None:
        record = plane.records.open(transport="sip", direction="inbound", agent="default")
        timings = (("speech_end", 0.0), ("stt_done", 300.0), ("first_token", 500.0))
        record.on_event(
            AgentSpoke("Hi.", 1.0, 2.0, False, (*timings, ("first_audio_out", 800.0))), 16000
        )
        key = bearer(plane.store.create_key("viewer"))
        families = {
            f.name: f
            for f in text_string_to_metric_families(client.get("/metrics", headers=key).text)
        }
        active = families["mediaserver_active_calls"].samples
        assert [(s.labels, s.value) for s in active] == [({"transport": "sip"}, 1.0)]
        v2v = {s.name: s.value for s in families["mediaserver_voice_to_voice_seconds"].samples}
        assert v2v["mediaserver_voice_to_voice_seconds_count"] == 1
        assert v2v["mediaserver_voice_to_voice_seconds_sum"] == pytest.approx(0.8)
        models = {
            s.labels["model"]: s.value
            for s in families["mediaserver_model_seconds"].samples
            if s.name.endswith("_sum")
        }
        assert models == {"stt": pytest.approx(0.3), "llm": pytest.approx(0.2)}
        record.ended("caller_hangup", 200)
        families = {
            f.name: f
            for f in text_string_to_metric_families(client.get("/metrics", headers=key).text)
        }
        ended = [
            s for s in families["mediaserver_calls_ended"].samples if s.name.endswith("_total")
        ]
        assert [(s.labels["reason"], s.value) for s in ended] == [("caller_hangup", 1.0)]

    asyncio.run(scenario())


def test_readyz_says_what_is_not_ready(plane: ControlPlane, tmp_path: Path) -> None:
    state = {"models": False, "sip": True}
    client = TestClient(
        create_http_app(config_for(plane.store.url, tmp_path), plane, lambda: state)
    )
    key = bearer(plane.store.create_key("viewer"))
    reply = client.get("/readyz", headers=key)
    assert reply.status_code == 503 and reply.json()["checks"] == state
    state["models"] = True
    assert client.get("/readyz", headers=key).status_code == 200


def test_call_tokens_are_issued_to_admins_only(client: TestClient, plane: ControlPlane) -> None:
    from mediaserver.tokens import TokenError

    admin, viewer = plane.store.create_key("admin"), plane.store.create_key("viewer")
    assert client.post("/tokens", headers=bearer(viewer), json={}).status_code == 403
    token = client.post("/tokens", headers=bearer(admin), json={"agent": "sales"}).json()["token"]
    plane.tokens.check(token, "sales")
    with pytest.raises(TokenError):
        plane.tokens.check(token, "support")
    with pytest.raises(TokenError):
        plane.tokens.check(token[:-2], "sales")


def test_records_survive_the_writer_thread(plane: ControlPlane) -> None:
    """Closing Records applies every queued write before the store goes."""

    async def scenario() -> None:
        records = Records(plane.store, Metrics())
        record = records.open(transport="webrtc", direction="inbound", agent="default")
        for n in range(200):
            record.on_event(Transcript(f"utterance {n}", n * 16000, n * 16000 + 8000), 16000)
        records.close()
        call = plane.store.get_call(record.id)
        assert call is not None and len(call["turns"]) == 200

    asyncio.run(scenario())


# -- hostile input reaching the store (issue 21) ---------------------------------
def test_undecodable_header_bytes_are_stored_escaped_with_the_calls_turns(store_url: str) -> None:
    """pjsua2 hands a From that is not UTF-8 over as surrogate escapes; PostgreSQL
    also refuses NUL and an over-long varchar. The call and its turns are kept."""
    store = Store.open(store_url)
    from_uri = '"\udced\udca0\udcbd\ud83d" <sip:bob@example.invalid>'
    call = store.call_created(
        transport="sip", direction="inbound", agent="default", from_uri=from_uri, to_uri="x" * 300
    )
    store.add_turn(call, "caller", "nul\x00 and \udcff", start_s=0.1, end_s=0.5)
    store.add_event(call, 1.0, "dtmf", "\udcfe")
    record = store.get_call(call)
    assert record is not None
    assert record["from_uri"] == '"\\xed\\xa0\\xbd\\xed\\xa0\\xbd" <sip:bob@example.invalid>'
    assert record["to_uri"] == "x" * 256
    assert [t["text"] for t in record["turns"]] == ["nul\\x00 and \\xff"]
    assert [e["value"] for e in record["events"]] == ["\\xfe"]


def test_an_unclean_call_ends_when_it_was_last_known_alive(store_url: str) -> None:
    store = Store.open(store_url)
    call = store.call_created(transport="sip", direction="inbound", agent="default")
    store.update_call(call, answered_at=datetime.now(UTC))
    store.add_turn(call, "caller", "hello", start_s=0.5, end_s=1.0)
    alive = datetime.now(UTC)
    quiet = store.call_created(transport="sip", direction="inbound", agent="default")
    store.touch_calls([quiet])
    touched = datetime.now(UTC)
    time.sleep(0.05)  # the restart comes later than both
    assert Store.open(store_url).close_unclean() == 2
    ended = store.get_call(call)["ended_at"]  # type: ignore[index]
    assert ended <= alive, (ended, alive)
    assert store.get_call(quiet)["ended_at"] <= touched  # type: ignore[index]


def test_the_writer_heartbeat_keeps_live_calls_seen(plane: ControlPlane) -> None:
    async def scenario() -> None:
        records = Records(plane.store, Metrics(), heartbeat_seconds=0.05)
        live = records.open(transport="sip", direction="inbound", agent="default")
        done = records.open(transport="sip", direction="inbound", agent="default")
        done.ended("caller_hangup", 200)
        records.writer.flush()
        deadline = time.monotonic() + 10
        while plane.store.get_call(live.id)["last_seen_at"] is None:  # type: ignore[index]
            assert time.monotonic() < deadline, "no heartbeat reached the live call"
            await asyncio.sleep(0.05)
        records.close()
        assert plane.store.get_call(done.id)["last_seen_at"] is None  # type: ignore[index]

    asyncio.run(scenario())


def test_numbers_can_be_stored_masked_or_hashed(plane: ControlPlane) -> None:
    from mediaserver import numbers

    async def scenario() -> None:
        for policy, expect in (("masked", "***567"), ("hashed", "#")):
            records = Records(plane.store, Metrics(), numbers.policy(policy, b"k"))
            record = records.open(
                transport="sip",
                direction="inbound",
                agent="default",
                from_uri='"+1 555 123 4567" <sip:+15551234567@trunk>',
                to_uri="sip:agent@127.0.0.1:5060",
            )
            records.close()
            stored = plane.store.get_call(record.id)
            assert stored is not None
            assert "1234567" not in stored["from_uri"] and expect in stored["from_uri"]
            assert stored["to_uri"] == "sip:agent@127.0.0.1:5060"

    asyncio.run(scenario())


def test_the_call_token_secret_lives_in_a_private_file_not_the_store(
    store_url: str, tmp_path: Path
) -> None:
    from mediaserver.api.auth import CallTokens
    from mediaserver.tokens import verify

    store = Store.open(store_url)
    old = store.setting("call_token_secret", lambda: "an-older-version-kept-it-here")
    tokens = CallTokens(store, 600, "", tmp_path / "data")
    kept = tmp_path / "data" / "call_token_secret"
    assert tokens.secret == old  # tokens already handed out stay valid
    assert kept.stat().st_mode & 0o777 == 0o600 and kept.read_text().strip() == old
    assert store.pop_setting("call_token_secret") is None  # moved, not copied
    again = CallTokens(store, 600, "", tmp_path / "data")
    assert verify(again.secret, tokens.issue()).agent is None


def test_malformed_credentials_are_401_never_500(client: TestClient, plane: ControlPlane) -> None:
    for credential in (b"a.\xe9", b"msk_\xe9_\xe9", b"\xff\xfe", b"msk_a_b.\xe9"):
        for path in ("/calls", "/agents", "/tokens"):
            headers = {"Authorization": b"Bearer " + credential}
            reply = client.request("GET" if path != "/tokens" else "POST", path, headers=headers)
            assert reply.status_code == 401, (path, credential, reply.text)


def test_a_lone_surrogate_in_json_is_refused(client: TestClient, plane: ControlPlane) -> None:
    admin = {**bearer(plane.store.create_key("admin")), "Content-Type": "application/json"}
    body = b'{"name": "odd", "greeting": "hi \\ud800 there"}'
    reply = client.post("/agents", headers=admin, content=body)
    assert reply.status_code == 422 and "surrogate" in reply.text, reply.text
    paired = b'{"name": "emoji", "greeting": "hi \\ud83d\\ude00"}'  # a pair is text
    assert client.post("/agents", headers=admin, content=paired).status_code == 201


def test_bodies_are_capped_per_route(client: TestClient, plane: ControlPlane) -> None:
    admin = bearer(plane.store.create_key("admin"))
    long_prompt = {"name": "big", "system_prompt": "\u00e9" * 20_000}  # escaped: 120 kB
    assert client.post("/agents", headers=admin, json=long_prompt).status_code == 201
    huge = {"name": "huge", "system_prompt": "x" * 300_000}
    assert client.post("/agents", headers=admin, json=huge).status_code == 413
    assert client.post("/tokens", headers=admin, json={"x": "y" * 20_000}).status_code == 413


def test_a_key_can_ask_who_it_is(client: TestClient, plane: ControlPlane) -> None:
    admin = plane.store.create_key("admin", "ops desk")
    viewer = plane.store.create_key("viewer")
    me = client.get("/auth/me", headers=bearer(admin)).json()
    assert me == {"id": admin.split("_")[1], "name": "ops desk", "role": "admin"}
    assert client.get("/auth/me", headers=bearer(viewer)).json()["role"] == "viewer"
    assert client.get("/auth/me").status_code == 401
