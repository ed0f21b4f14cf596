"""A cluster on loopback: real Kamailio as the SIP edge, real pjsua2 media
workers, sipp and pjsua2 callers. The workers answer with the FIXED-ANSWER
fake speech port (declared in tests/cluster.py): the media plane and the
edge are under test here, not the models."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.cluster import (
    sipp,
    sipp_scenario_via_edge,
    start_cluster,
    stop_cluster,
    wait_ready,
    worker_pid,
)
from tests.integration.test_sip import caller, listening_callee
from tests.integration.test_webrtc import offer_over_http
from tests.server import Server, free_port
from tests.webrtc_peer import RATE, Peer

pytestmark = pytest.mark.integration

# 3 workers by default (2 shared cores here); the size: CLUSTER_TEST_WORKERS=10
WORKERS = int(os.environ.get("CLUSTER_TEST_WORKERS", "3"))
CALLS = WORKERS * 4  # every slot of every worker
WORKER_NAMES = {f"w{i}" for i in range(1, WORKERS + 1)}


TLS_PORT = free_port()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("cluster")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=True,
    )
    srv = start_cluster(
        tmp,
        WORKERS,
        "pike_requests = 100\ninvites_per_second = 10\n"
        f'tls_port = {TLS_PORT}\ntls_cert = "{cert}"\ntls_key = "{key}"\n',
        sip_extra="outbound_per_trunk = 1\n",  # one call at a time, across all workers
    )
    yield srv
    stop_cluster(srv)


def records(srv: Server, limit: int = 100) -> list[dict[str, Any]]:
    return list(srv.api(f"/calls?limit={limit}").json()["items"])


def wait_calls(
    srv: Server, count: int, ended: bool, since: set[str], timeout: float = 40
) -> list[dict[str, Any]]:
    """Wait for `count` call records not in `since` (all ended, if asked)."""
    deadline = time.monotonic() + timeout
    new: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        new = [r for r in records(srv) if r["id"] not in since]
        if len(new) >= count and (not ended or all(r["ended_at"] for r in new)):
            return new
        time.sleep(0.5)
    raise AssertionError(f"{len(new)} of {count} calls: {new}\n{srv.tail()}")


def test_readyz_and_metrics_cover_every_worker(cluster: Server) -> None:
    ready = wait_ready(cluster)
    assert ready["checks"] == {"workers": True}
    assert ready["workers"] == {f"w{i}": True for i in range(1, WORKERS + 1)}
    metrics = cluster.api("/metrics").text
    for i in range(1, WORKERS + 1):
        assert f'worker="w{i}"' in metrics, metrics[:3000]
    assert 'worker="control"' in metrics
    # the edge's config is kept, readable, in the data dir
    cfg = (cluster.data / "edge" / "kamailio.cfg").read_text()
    assert 'ds_select_dst("1", "10")' in cfg and "failure_route[NEXT_WORKER]" in cfg
    assert (cluster.data / "edge" / "dispatcher.list").read_text().count("maxload=4") == WORKERS


def test_every_slot_answered_greeted_recorded_and_one_more_gets_503(
    cluster: Server, tmp_path: Path
) -> None:
    before = {r["id"] for r in records(cluster)}
    scenario = tmp_path / "uac_pcap.xml"
    # every call held long enough for the last to start (6 a second: under the edge's 10/s)
    scenario.write_text(sipp_scenario_via_edge("uac_pcap", hold_ms=CALLS * 200))
    run = sipp(scenario, cluster.sip_port, "-m", str(CALLS), "-l", str(CALLS), "-r", "6")
    # every slot taken: the next caller hears 503 from the edge at once
    wait_calls(cluster, CALLS, ended=False, since=before)
    start = time.monotonic()
    refused = caller("--to", cluster.uri, "--seconds", "3")
    took = time.monotonic() - start
    out = run.communicate(timeout=120)[0]
    assert run.returncode == 0, out[-3000:]
    assert not refused["connected"] and refused["status"] == 503, refused
    assert took < 3.5  # a caller process's start-up included: the 503 itself is immediate
    calls = wait_calls(cluster, CALLS, ended=True, since=before)
    assert Counter(c["worker"] for c in calls) == {f"w{i}": 4 for i in range(1, WORKERS + 1)}
    for call in calls:
        assert call["answered_at"] and call["end_reason"] == "caller_hangup", call
        assert call["recording_path"] and Path(call["recording_path"]).stat().st_size > 44
        detail = cluster.api(f"/calls/{call['id']}").json()
        assert detail["turns"][0]["speaker"] == "agent"
        assert "Riverside" in detail["turns"][0]["text"]  # the greeting
        # RFC 2833 DTMF (in sipp's pcap) reached the worker through the edge
        assert [e["value"] for e in detail["events"] if e["kind"] == "dtmf"], detail


def test_the_edge_terminates_sip_over_tls(cluster: Server) -> None:
    """The system OpenSSL at the edge: an OPTIONS over TLS is answered."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
    with (
        socket.create_connection(("127.0.0.1", TLS_PORT), timeout=10) as raw,
        context.wrap_socket(raw) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        me = tls.getsockname()
        tls.sendall(
            (
                f"OPTIONS sip:127.0.0.1:{TLS_PORT};transport=tls SIP/2.0\r\n"
                f"Via: SIP/2.0/TLS {me[0]}:{me[1]};branch=z9hG4bKtls1\r\n"
                "Max-Forwards: 5\r\nFrom: <sip:probe@127.0.0.1>;tag=t1\r\n"
                f"To: <sip:127.0.0.1:{TLS_PORT}>\r\nCall-ID: tls-probe-1\r\n"
                "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode()
        )
        assert tls.recv(4096).startswith(b"SIP/2.0 200"), cluster.tail()


def test_an_off_trunk_invite_gets_403_at_the_edge(cluster: Server) -> None:
    since = cluster.mark()
    result = caller("--to", cluster.uri, "--bind", "127.0.0.2", "--seconds", "4")
    assert not result["connected"] and result["status"] == 403
    cluster.wait_for(r"INVITE from 127\.0\.0\.2 refused: not a trunk address", since=since)


def test_a_killed_worker_is_restarted_and_only_its_calls_close_unclean(
    cluster: Server,
) -> None:
    before = {r["id"] for r in records(cluster)}
    holders = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.sip_caller", "--to", cluster.uri, "--seconds", "14"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    calls = wait_calls(cluster, 2, ended=False, since=before)
    assert len({c["worker"] for c in calls}) == 2  # the least loaded worker takes each call
    victim, survivor = calls[0], calls[1]
    since = cluster.mark()
    os.kill(worker_pid(cluster, victim["worker"]), signal.SIGKILL)
    cluster.wait_for(rf"{victim['worker']} exited \(-9\): restarting", since=since)
    cluster.wait_for(rf"{victim['worker']}: 1 call\(s\) closed as unclean", since=since)
    new_pid = worker_pid(cluster, victim["worker"], since=since)
    assert new_pid > 0
    results = [json.loads(p.communicate(timeout=60)[0].strip().splitlines()[-1]) for p in holders]
    assert all(r["connected"] for r in results)
    ended = {c["id"]: c for c in wait_calls(cluster, 2, ended=True, since=before)}
    assert ended[victim["id"]]["end_reason"] == "unclean"
    assert ended[survivor["id"]]["end_reason"] == "caller_hangup"  # it went on to the end
    survivor_turns = cluster.api(f"/calls/{survivor['id']}").json()["turns"]
    assert survivor_turns and "Riverside" in survivor_turns[0]["text"]
    # the restarted worker takes calls again
    wait_ready(cluster)
    assert caller("--to", cluster.uri, "--seconds", "2")["connected"]


def test_a_browser_call_lands_on_a_worker_and_its_record_is_complete(cluster: Server) -> None:
    token = cluster.cli("tokens", "create")
    before = {r["id"] for r in records(cluster)}

    async def talk() -> None:
        peer = Peer(np.zeros(RATE * 6, np.int16))
        await peer.connect(offer_over_http(cluster.http_port, token))
        await asyncio.sleep(4)
        await peer.hang_up()

    asyncio.run(talk())
    [call] = wait_calls(cluster, 1, ended=True, since=before)
    assert call["transport"] == "webrtc" and call["worker"] in WORKER_NAMES, call
    assert call["answered_at"] and call["end_reason"] and call["end_reason"] != "unclean"
    detail = cluster.api(f"/calls/{call['id']}").json()
    assert detail["turns"] and "Riverside" in detail["turns"][0]["text"]


def test_an_admin_hangs_up_a_call_held_by_a_worker(cluster: Server) -> None:
    before = {r["id"] for r in records(cluster)}
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.sip_caller", "--to", cluster.uri, "--seconds", "20"],
        stdout=subprocess.PIPE,
        text=True,
    )
    [call] = wait_calls(cluster, 1, ended=False, since=before)
    assert cluster.post(f"/calls/{call['id']}/hangup", {}).status_code == 204
    [ended] = wait_calls(cluster, 1, ended=True, since=before, timeout=15)
    assert ended["end_reason"] == "operator_hangup", ended
    holder.communicate(timeout=30)
    assert cluster.post(f"/calls/{call['id']}/hangup", {}).status_code == 404  # over


def test_outbound_calls_land_on_workers_one_at_a_time_per_trunk(cluster: Server) -> None:
    """[sip] outbound_per_trunk = 1 holds across the workers: the second call
    starts only once the first is over, though other workers have room."""
    callees = [listening_callee("--seconds", "5") for _ in range(2)]
    jobs = [
        cluster.post("/calls", {"to": f"sip:callee@127.0.0.1:{port}"}).json() for _, port in callees
    ]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        jobs = [cluster.api(f"/outbound/{job['id']}").json() for job in jobs]
        if all(job["state"] == "done" for job in jobs):
            break
        time.sleep(0.5)
    for callee, _ in callees:
        callee.communicate(timeout=30)
    assert [job["outcome"] for job in jobs] == ["answered", "answered"], jobs
    first, second = (cluster.api(f"/calls/{job['call_ids'][0]}").json() for job in jobs)
    for record in (first, second):
        assert record["direction"] == "outbound" and record["worker"] in WORKER_NAMES
    # the second was placed once the first was over (the callee holds 5 s), not beside it;
    # its record may still be closing then (ended_at is written a moment after the BYE)
    since_answered = datetime.fromisoformat(second["created_at"]) - datetime.fromisoformat(
        first["answered_at"]
    )
    assert since_answered.total_seconds() >= 3, (first, second)


def test_a_hung_worker_is_killed_and_restarted(cluster: Server) -> None:
    """A worker that stops answering pings (SIGSTOP: alive, silent) is killed."""
    since = cluster.mark()
    os.kill(worker_pid(cluster, "w1"), signal.SIGSTOP)
    # meanwhile calls go to the other workers: an INVITE w1 leaves unanswered
    # fails over after 4 s, and OPTIONS probing soon takes w1 out of the set
    for _ in range(WORKERS):
        assert caller("--to", cluster.uri, "--seconds", "2")["connected"]
    # one worker down is not the cluster down: the edge fails over, so it stays ready
    ready = cluster.api("/readyz")
    assert ready.status_code == 200 and ready.json()["workers"]["w1"] is False, ready.text
    cluster.wait_for(r"w1 unresponsive for 10 s, killed: restarting", since=since, timeout=40)
    assert worker_pid(cluster, "w1", since=since) > 0
    wait_ready(cluster)


def test_pike_blocks_a_flood_from_one_source(cluster: Server, tmp_path: Path) -> None:
    """Last in this module: the flood's calls that got through may linger."""
    since = cluster.mark()
    scenario = tmp_path / "options.xml"
    scenario.write_text(sipp_scenario_via_edge("uac"))
    flood = sipp(
        scenario,
        cluster.sip_port,
        "-m",
        "400",
        "-r",
        "200",
        "-l",
        "400",
        bind="127.0.0.3",
        timeout=8,
    )
    flood.communicate(timeout=60)
    cluster.wait_for(r"pike: flood from 127\.0\.0\.3", since=since)
    cluster.wait_for(r"INVITE rate from 127\.0\.0\.3 over 10/s", since=since)
