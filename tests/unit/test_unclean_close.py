"""A call a killed server left open is closed as `unclean` at the next start,
and its call.ended webhook event is written in the same transaction, once:
a second start, or two processes closing at once, write no second event."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mediaserver.app import control_plane
from mediaserver.config import ApiConfig, Config, ServerConfig, WebhooksConfig
from mediaserver.store import Store
from mediaserver.store.outbox import OutboxStore
from mediaserver.store.rows import utcnow
from mediaserver.store.tables import webhook_deliveries
from mediaserver.webhooks.outbox import unclean_ended

PUBLIC_URL = "https://calls.example"


def config_for(store_url: str, tmp_path: Path) -> Config:
    return Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=store_url),
        webhooks=WebhooksConfig(public_url=PUBLIC_URL),
    )


def ended_events(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as c:
        bodies = c.scalars(
            sa.select(webhook_deliveries.c.body).where(
                webhook_deliveries.c.event_type == "call.ended"
            )
        )
        return [json.loads(body) for body in bodies]


def hooked(store: Store) -> Store:
    """The store with a webhook that wants every call.ended."""
    OutboxStore(store.engine).create_webhook(
        "http://hooks.example/", ["call.ended"], "s", None, None
    )
    return store


def a_call_left_open(store: Store, recording: Path | None = None) -> str:
    call_id = store.call_created(transport="sip", direction="inbound", agent="sales")
    path = None if recording is None else str(recording)
    store.update_call(call_id, answered_at=utcnow(), recording_path=path)
    store.add_turn(call_id, "caller", "I would like a cleaning", start_s=0.5, end_s=2.0)
    store.add_turn(call_id, "agent", "Which day suits you?", start_s=2.5, end_s=4.0)
    return call_id


def test_a_restart_writes_the_unclean_calls_call_ended_once(store_url: str, tmp_path: Path) -> None:
    config = config_for(store_url, tmp_path)
    first = control_plane(config)
    recording = tmp_path / "recording.wav"
    recording.write_bytes(b"RIFF")
    call_id = a_call_left_open(hooked(first.store), recording)
    first.close()  # as if killed: the call was never ended

    second = control_plane(config)  # the restart closes it
    [event] = ended_events(second.store)
    data = event["data"]
    assert data["call_id"] == call_id and data["end_reason"] == "unclean"
    assert data["agent"] == "sales" and data["ended_at"]
    assert [t["text"] for t in data["transcript"]] == [
        "I would like a cleaning",
        "Which day suits you?",
    ]
    assert data["recording_url"] == f"{PUBLIC_URL}/calls/{call_id}/recording"
    second.close()

    third = control_plane(config)  # a second restart: nothing open, nothing sent again
    assert len(ended_events(third.store)) == 1
    third.close()


def test_a_call_whose_recording_file_is_missing_has_no_recording_url(
    store_url: str, tmp_path: Path
) -> None:
    store = hooked(Store.open(store_url))
    a_call_left_open(store)
    a_call_left_open(store, tmp_path / "never-written.wav")
    assert store.close_unclean(on_closed=unclean_ended(store, PUBLIC_URL)) == 2
    assert [event["data"]["recording_url"] for event in ended_events(store)] == [None, None]


def test_two_processes_closing_at_once_write_one_event_per_call(store_url: str) -> None:
    store = hooked(Store.open(store_url))
    calls = {a_call_left_open(store) for _ in range(6)}
    others = [Store(store_url) for _ in range(4)]  # each its own engine, as other processes
    closed: list[int] = []
    start = threading.Barrier(len(others))

    def close(other: Store) -> None:
        start.wait()
        closed.append(other.close_unclean(on_closed=unclean_ended(other, PUBLIC_URL)))

    threads = [threading.Thread(target=close, args=(other,)) for other in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = ended_events(store)
    assert sum(closed) == 6, closed
    assert sorted(event["data"]["call_id"] for event in events) == sorted(calls)


def test_the_close_and_its_event_share_one_transaction(store_url: str) -> None:
    store = hooked(Store.open(store_url))
    call_id = a_call_left_open(store)

    def broken(*_: object) -> None:
        raise RuntimeError("the event cannot be written")

    with pytest.raises(RuntimeError):
        store.close_unclean(on_closed=broken)
    assert store.get_call(call_id)["ended_at"] is None  # type: ignore[index]
    assert store.close_unclean(on_closed=unclean_ended(store, PUBLIC_URL)) == 1
    assert len(ended_events(store)) == 1
