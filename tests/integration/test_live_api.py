"""GET /live streams the calls in progress and their turns (server-sent events);
POST /calls/{id}/hangup is for admins, and says when there is no such call."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from mediaserver.api.live import MAX_STREAMS
from mediaserver.app import control_plane, create_http_app
from mediaserver.config import ApiConfig, Config, ServerConfig
from tests.browser import serving

pytestmark = pytest.mark.integration


def test_live_events_and_hangup_refusals(tmp_path: Path) -> None:
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}"),
    )
    plane = control_plane(config)
    store = plane.store
    ended = store.call_created(transport="sip", direction="inbound", agent="default")
    store.add_turn(ended, "caller", "an old call", start_s=1, end_s=2)
    store.call_ended(ended, "caller_hangup")
    live = store.call_created(transport="webrtc", direction="inbound", agent="default")
    store.add_turn(live, "agent", "Hello, how can I help?", start_s=0.5, end_s=2)
    viewer, admin = store.create_key("viewer"), store.create_key("admin")
    app = create_http_app(config, plane, dict)
    with serving(app) as base:
        events: list[tuple[str, object]] = []
        with httpx.stream(
            "GET", f"{base}/live", headers={"Authorization": f"Bearer {viewer}"}, timeout=10
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            kind = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
                    if kind == "turn":
                        store.add_turn(live, "caller", "When do you open?", start_s=3, end_s=4)
                    if len(events) == 3:
                        break
        assert events[0][0] == "calls"
        assert [c["id"] for c in events[0][1]] == [live]  # type: ignore[union-attr]
        assert [(k, t["text"]) for k, t in events[1:]] == [  # type: ignore[index]
            ("turn", "Hello, how can I help?"),
            ("turn", "When do you open?"),
        ]
        as_viewer = httpx.post(
            f"{base}/calls/{live}/hangup", headers={"Authorization": f"Bearer {viewer}"}
        )
        assert as_viewer.status_code == 403
        as_admin = httpx.post(
            f"{base}/calls/{live}/hangup", headers={"Authorization": f"Bearer {admin}"}
        )
        assert as_admin.status_code == 404 and "in progress" in as_admin.json()["detail"]


def test_live_views_are_limited_and_a_closed_one_frees_its_place(tmp_path: Path) -> None:
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path / "data")),
        api=ApiConfig(store_url=f"sqlite:///{tmp_path / 'store.db'}"),
    )
    plane = control_plane(config)
    key = plane.store.create_key("viewer")
    app = create_http_app(config, plane, dict)
    headers = {"Authorization": f"Bearer {key}"}
    with (
        serving(app) as base,
        httpx.Client(
            limits=httpx.Limits(max_connections=40), timeout=10, headers=headers
        ) as client,
        ExitStack() as open_views,
    ):
        readers = []  # kept: a reader dropped closes its view
        for _ in range(MAX_STREAMS):
            view = open_views.enter_context(client.stream("GET", f"{base}/live"))
            assert view.status_code == 200
            readers.append(view.iter_lines())
            next(readers[-1])  # the stream has begun
        with client.stream("GET", f"{base}/live") as refused:
            assert refused.status_code == 503
        open_views.close()
        statuses = []
        for _ in range(50):  # places free once the server sees the views closed
            with client.stream("GET", f"{base}/live") as again:
                statuses.append(again.status_code)
            if statuses[-1] == 200:
                break
            time.sleep(0.2)
        assert statuses[-1] == 200, statuses
