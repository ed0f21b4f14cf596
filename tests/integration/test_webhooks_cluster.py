"""Webhooks in a cluster: a browser call on a media worker, analysed there
(the FIXED-ANSWER fake speech port cannot answer in the schema: the analysis
fails, with its reason), its events delivered by the control process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import numpy as np
import pytest

from mediaserver.webhooks import signing
from tests.cluster import start_cluster, stop_cluster
from tests.integration.test_webhooks import AGENT, EVENTS, Receiver, receiver
from tests.integration.test_webrtc import offer_over_http
from tests.server import Server
from tests.webrtc_peer import RATE, Peer

pytestmark = pytest.mark.integration
__all__ = ["receiver"]  # the receiver fixture, shared with test_webhooks

CONFIG = """
[webhooks]
allow = ["127.0.0.1/32"]
retry_base_seconds = 0.3
poll_seconds = 0.1
[analysis]
sweep_seconds = 0.5
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_cluster(tmp_path_factory.mktemp("webhooks_cluster"), 1, CONFIG)
    yield srv
    stop_cluster(srv)


def test_a_cluster_call_is_analysed_on_its_worker_and_its_events_delivered(
    cluster: Server, receiver: Receiver
) -> None:
    receiver.mode = "ok"
    assert cluster.post("/agents", AGENT).status_code == 201
    url = f"http://127.0.0.1:{receiver.port}/hooks"
    created = cluster.post("/webhooks", {"url": url, "events": EVENTS})
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    token = cluster.post("/tokens", {"agent": "sales"}).json()["token"]

    async def talk() -> None:
        peer = Peer(np.zeros(RATE * 6, np.int16))
        await peer.connect(offer_over_http(cluster.http_port, token, agent="sales"))
        await asyncio.sleep(4)
        await peer.hang_up()

    asyncio.run(talk())
    ended = receiver.wait_for("call.ended", timeout=120)
    assert ended["data"]["agent"] == "sales" and ended["data"]["transport"] == "webrtc"
    analysis = ended["data"]["analysis"]
    assert analysis["status"] in ("done", "failed"), analysis
    call = cluster.api(f"/calls/{ended['data']['call_id']}").json()
    assert call["analysis"] == analysis and call["worker"] == "w1"
    types = sorted(e["type"] for e in receiver.accepted().values())
    assert types == ["call.answered", "call.ended", "call.started"], types
    with receiver.lock:
        for _, headers, body in receiver.requests:
            assert signing.verify(
                secret,
                body,
                headers[signing.TIMESTAMP_HEADER],
                headers[signing.SIGNATURE_HEADER],
                now=time.time(),
            )
    # a re-run asked of the control process is done by the call's worker
    rerun = cluster.post(f"/calls/{call['id']}/analysis", {})
    assert rerun.status_code == 202, rerun.text
    analyzed = receiver.wait_for("call.analyzed", timeout=120)
    assert analyzed["data"]["call_id"] == call["id"]
