"""POST /calls jobs live in the store as one-lead campaigns (migration 0010):
on SQLite and PostgreSQL, a job keeps the SIP URI it calls and reads back as
the API shows it; against a real `mediaserver serve` and pjsua2 callees on
loopback, a job still queued when the server stops is dialled after the
restart, and in a cluster a job posted while the workers drain waits for a
worker that takes calls (the restarted cluster's) instead of failing."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mediaserver.campaigns.one_call import CallRules, call_spec, job_view
from mediaserver.store import Store
from mediaserver.store.call_jobs import CallJobs
from mediaserver.store.campaigns import CampaignStore
from mediaserver.store.tables import metadata
from tests.integration.test_campaigns import callees, callees_report
from tests.server import Server, start_server, stop_server

pytestmark = pytest.mark.integration

HOLDS, BUSY = "+14155550401", "+14155550402"


def test_a_job_keeps_its_sip_uri_and_stays_out_of_the_campaign_list(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with store.engine.connect() as c:
            diff = compare_metadata(MigrationContext.configure(c), metadata)
        assert [d for d in diff if "campaign" in repr(d)] == []
        campaigns = CampaignStore(store)
        campaigns.create("spring", {"name": "spring"})
        jobs = CallJobs(store)
        uri = "sip:" + "a" * 280 + "@127.0.0.1:5060"  # over the E.164 column of 0007
        spec = call_spec("default", "default", None, CallRules(retries=2))
        job_id = jobs.add(spec.model_dump(), uri, {"name": "Ann"})
        job = job_view(jobs.get(job_id) or {})
        assert (job["to"], job["state"], job["attempts"], job["call_ids"]) == (uri, "queued", 0, [])
        assert job["amd_policy"] is None and jobs.waiting() == 1
        assert [c["name"] for c in campaigns.page()[1]] == ["spring"]  # no job among them
        assert [c["id"] for c in campaigns.page(kind="call")[1]] == [job_id]
        assert [r["id"] for r in campaigns.running()] == [job_id]  # the runner's to dial
        spring = campaigns.page()[1][0]["id"]
        assert campaigns.move(spring, {"draft"}, "running")  # no leads: done at once
        assert campaigns.finish_done() == [{"id": spring, "name": "spring", "kind": "campaign"}]
        assert campaigns.settle(jobs.get(job_id)["lead_id"], "dnc")  # type: ignore[index]
        assert campaigns.finish_done() == [{"id": job_id, "name": "call", "kind": "call"}]
        assert job_view(jobs.get(job_id) or {})["state"] == "done" and jobs.waiting() == 0
    finally:
        store.close()


def wait_job(server: Server, job_id: int, timeout: float, state: str = "done") -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = dict(server.api(f"/outbound/{job_id}").json())
        if job["state"] == state:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never {state}: {job}\n{server.tail()}")


def test_a_call_still_queued_when_the_server_stops_is_dialled_after_the_restart(
    tmp_path: Path,
) -> None:
    """The trunk carries one call at a time: the second job waits behind the
    first when the server is stopped; the restarted server dials it (busy:
    its retry too), and the first, cut short by the stop, again."""
    proc, port = callees({BUSY: 486}, hold=10)
    sip = "outbound_per_trunk = 1"
    server = start_server(tmp_path, sip_config=sip)
    restarted: Server | None = None
    try:
        first = server.post("/calls", {"to": f"sip:{HOLDS}@127.0.0.1:{port}"}).json()
        wait_job(server, first["id"], 30, state="calling")
        placed = server.post("/calls", {"to": f"sip:{BUSY}@127.0.0.1:{port}"})
        assert placed.status_code == 202, placed.text
        second = placed.json()
        assert server.api(f"/outbound/{second['id']}").json()["state"] == "queued"
        assert [job["id"] for job in server.api("/outbound").json()] == [second["id"], first["id"]]
        assert server.api("/campaigns").json()["total"] == 0  # jobs are not campaigns
        stop_server(server)
        restarted = start_server(tmp_path, sip_config=sip)
        second = wait_job(restarted, second["id"], 90)
        assert (second["outcome"], second["sip_code"], second["attempts"]) == ("busy", 486, 2)
        assert len(second["call_ids"]) == 2  # [sip] outbound_retries = 1
        first = restarted.api(f"/outbound/{first['id']}").json()
        assert (first["state"], first["outcome"], first["attempts"]) == ("done", "answered", 2)
        lead = restarted.api(f"/campaigns/{first['id']}/leads").json()["items"][0]
        attempts = restarted.api(f"/campaigns/{first['id']}/leads/{lead['id']}").json()
        assert [a["outcome"] for a in attempts["attempt_log"]] == ["unclean", "answered"]
    finally:
        stop_server(restarted or server)
    said = callees_report(proc)
    assert said["invites"] == {HOLDS: 2, BUSY: 2}, said


def test_in_a_cluster_a_call_posted_while_the_workers_drain_waits_for_a_worker(
    tmp_path: Path,
) -> None:
    """SIGTERM drains the cluster (a call in progress holds it open); a POST
    /calls meanwhile is taken (202), no worker takes calls, so it waits: it is
    dialled by the cluster started next on the same store, not failed."""
    from tests.cluster import start_cluster, stop_cluster

    proc, port = callees({}, hold=6)
    retry = "outbound_retry_seconds = 1\n"
    cluster = start_cluster(tmp_path, 1, sip_extra=retry)
    again: Server | None = None
    try:
        first = cluster.post("/calls", {"to": f"sip:{HOLDS}@127.0.0.1:{port}"}).json()
        wait_job(cluster, first["id"], 60, state="calling")
        since = cluster.mark()
        cluster.proc.send_signal(signal.SIGTERM)
        cluster.wait_for(r"draining: 1 call\(s\) in progress", since=since, timeout=20)
        placed = cluster.post("/calls", {"to": f"sip:{BUSY}@127.0.0.1:{port}"})
        assert placed.status_code == 202, placed.text
        second = placed.json()
        assert cluster.proc.wait(60) == 0
        left = wait_job_in_store(tmp_path, second["id"])
        assert left["state"] in ("queued", "waiting") and left["call_ids"] == [], left
        again = start_cluster(tmp_path, 1, sip_extra=retry)
        second = wait_job(again, second["id"], 60)
        assert second["outcome"] == "answered" and len(second["call_ids"]) == 1, second
        record = again.api(f"/calls/{second['call_ids'][0]}").json()
        assert record["worker"] == "w1" and record["direction"] == "outbound"
        first = again.api(f"/outbound/{first['id']}").json()
        assert first["outcome"] == "answered"  # the drain let it finish
    finally:
        if again is not None:
            stop_cluster(again)
        elif cluster.proc.poll() is None:
            stop_cluster(cluster)
    said = callees_report(proc)
    assert said["invites"] == {HOLDS: 1, BUSY: 1}, said


def wait_job_in_store(tmp_path: Path, job_id: int) -> dict[str, Any]:
    """The job as the stopped cluster left it in its store (waiting: the
    attempt that waited for a worker was cut short by the stop)."""
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'mediaserver.db'}")
    try:
        return job_view(CallJobs(store).get(job_id) or {})
    finally:
        store.close()
