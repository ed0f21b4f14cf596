"""Outbound campaigns against a real `mediaserver serve` and pjsua2 callees on
loopback (tests/sip_callees.py: each number answers, is busy, rings out or
rejects), including a SIGKILL of the server mid-campaign."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_sip import wait_listening
from tests.server import Server, start_server, stop_server

ANSWERS, BUSY, RINGS, REJECTS = "+14155550101", "+14155550102", "+14155550103", "+14155550104"
ALWAYS = {
    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "start": "00:00",
    "end": "24:00",
}


def callees(script: dict[str, Any], hold: float = 3.0) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sip_callees",
            "--script",
            json.dumps(script),
            "--hold",
            str(hold),
            "--seconds",
            "300",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, wait_listening(proc)


def callees_report(proc: subprocess.Popen[str]) -> dict[str, Any]:
    proc.terminate()
    out = proc.communicate(timeout=30)[0]
    return dict(json.loads(out.strip().splitlines()[-1]))


def upload(server: Server, path: str, data: bytes) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{server.http_port}{path}",
        files={"file": ("leads.csv", data, "text/csv")},
        headers={"Authorization": f"Bearer {server.key}"},
        timeout=60,
    )


def campaign_spec(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "spring",
        "agent": "default",
        "schedule": ALWAYS,
        "timezone": "UTC",
        "max_concurrent": 2,
        "max_attempts": 2,
        "retry_seconds": {"busy": 1, "no_answer": 1, "voicemail": 1, "failed": 1},
        "ring_seconds": 4,
        **overrides,
    }


def wait_state(server: Server, campaign_id: int, state: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = dict(server.api(f"/campaigns/{campaign_id}").json())
        if found["state"] == state:
            return found
        time.sleep(0.5)
    raise AssertionError(f"campaign never {state}: {found}\n{server.tail()}")


def leads_by_phone(server: Server, campaign_id: int) -> dict[str, dict[str, Any]]:
    items = server.api(f"/campaigns/{campaign_id}/leads?limit=500").json()["items"]
    return {lead["phone"]: lead for lead in items}


@pytest.fixture
def callee_set() -> Iterator[tuple[subprocess.Popen[str], int]]:
    proc, port = callees({ANSWERS: "answer", BUSY: 486, RINGS: "ring", REJECTS: 603}, hold=8)
    yield proc, port
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_a_campaign_ends_every_lead_in_its_state_after_its_retries(
    tmp_path: Path, callee_set: tuple[subprocess.Popen[str], int]
) -> None:
    proc, port = callee_set
    server = start_server(tmp_path, sip_config=f'trunk_host = "127.0.0.1:{port}"')
    try:
        sales = {"name": "sales", "greeting": "Hello {name}, about your {plan} plan."}
        assert server.post("/agents", sales).status_code == 201
        spec = campaign_spec(agent="sales", caller_id="sip:sales@example.com")
        created = server.post("/campaigns", spec)
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        rows = [f"{ANSWERS},Ann,gold", f"{BUSY},Bob,x", f"{RINGS},Cy,x", f"{REJECTS},Dee,x"]
        imported = upload(
            server,
            f"/campaigns/{campaign_id}/leads",
            ("phone,name,plan\n" + "\n".join(rows)).encode(),
        )
        assert imported.json() == {"imported": 4, "rejected": 0, "errors": []}
        assert server.post(f"/campaigns/{campaign_id}/start", {}).json()["state"] == "running"
        finished = wait_state(server, campaign_id, "finished", 120)
        assert finished["leads"] == {"answered": 1, "busy": 1, "no_answer": 1, "rejected": 1}
        leads = leads_by_phone(server, campaign_id)
        assert {phone: (lead["state"], lead["attempts"]) for phone, lead in leads.items()} == {
            ANSWERS: ("answered", 1),
            BUSY: ("busy", 2),
            RINGS: ("no_answer", 2),
            REJECTS: ("rejected", 1),
        }
        detail = server.api(f"/campaigns/{campaign_id}/leads/{leads[BUSY]['id']}").json()
        assert [(a["outcome"], a["sip_code"]) for a in detail["attempt_log"]] == [
            ("busy", 486),
            ("busy", 486),
        ]
        record = server.api(f"/calls/{leads[ANSWERS]['call_id']}").json()
        assert record["direction"] == "outbound"
        agent_said = [turn["text"] for turn in record["turns"] if turn["speaker"] == "agent"]
        assert agent_said[:1] == ["Hello Ann, about your gold plan."]  # the lead's variables
        again = server.post(f"/campaigns/{campaign_id}/start", {})
        assert again.status_code == 409 and "finished" in again.json()["detail"]
    finally:
        stop_server(server)
    said = callees_report(proc)
    assert said["invites"] == {ANSWERS: 1, BUSY: 2, RINGS: 2, REJECTS: 1}
    assert set(said["most_at_once"].values()) == {1}  # no lead dialled twice at once
    assert said["most_calls"] <= 2  # max_concurrent
    # the campaign's caller ID is the From of every INVITE
    assert {uri for froms in said["froms"].values() for uri in froms} == {"sip:sales@example.com"}


def test_a_server_killed_mid_campaign_closes_its_attempts_unclean_and_retries_them(
    tmp_path: Path,
) -> None:
    numbers = [f"+1415555020{n}" for n in range(5)]
    proc, port = callees({}, hold=6.0)  # every number answers, for 6 s
    sip = f'trunk_host = "127.0.0.1:{port}"'
    server = start_server(tmp_path, sip_config=sip)
    restarted: Server | None = None
    try:
        created = server.post("/campaigns", campaign_spec(max_attempts=3)).json()
        upload(
            server, f"/campaigns/{created['id']}/leads", ("phone\n" + "\n".join(numbers)).encode()
        )
        server.post(f"/campaigns/{created['id']}/start", {})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # two calls up
            calling = server.api(f"/campaigns/{created['id']}/leads?state=calling").json()
            if calling["total"] == 2:
                break
            time.sleep(0.2)
        in_flight = {lead["phone"] for lead in calling["items"]}
        assert len(in_flight) == 2
        server.proc.kill()  # SIGKILL: no clean-up of any kind
        server.proc.wait(10)
        restarted = start_server(tmp_path, sip_config=sip)
        wait_state(restarted, created["id"], "finished", 150)
        leads = leads_by_phone(restarted, created["id"])
        assert {lead["state"] for lead in leads.values()} == {"answered"}
        for phone in in_flight:
            detail = restarted.api(f"/campaigns/{created['id']}/leads/{leads[phone]['id']}").json()
            assert [a["outcome"] for a in detail["attempt_log"]] == ["unclean", "answered"]
        others = set(numbers) - in_flight
        assert all(leads[phone]["attempts"] == 1 for phone in others)  # queued leads went on
    finally:
        stop_server(restarted or server)
    said = callees_report(proc)
    assert set(said["most_at_once"].values()) == {1}, said  # never twice at once
    assert sum(said["invites"].values()) == len(numbers) + 2


def test_bad_lead_lists_and_bodies_are_refused_with_reasons(
    tmp_path: Path, callee_set: tuple[subprocess.Popen[str], int]
) -> None:
    _, port = callee_set
    server = start_server(tmp_path, sip_config=f'trunk_host = "127.0.0.1:{port}"')
    try:
        bad_json = httpx.post(
            f"http://127.0.0.1:{server.http_port}/campaigns",
            content=b'{"name": "x", ',
            headers={"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"},
        )
        assert bad_json.status_code == 422 and "json" in bad_json.text.lower()
        wrong = server.post("/campaigns", campaign_spec(max_concurrent=0, timezone="Mars/Base"))
        assert wrong.status_code == 422 and "Mars/Base" in wrong.text
        assert server.post("/campaigns", campaign_spec(agent="nobody")).status_code == 422
        for caller_id in ("Sales", "4155550101", "sip:x@example.com>"):
            wrong = server.post("/campaigns", campaign_spec(caller_id=caller_id))
            assert wrong.status_code == 422 and "caller_id" in wrong.text, wrong.text
        campaign_id = server.post("/campaigns", campaign_spec()).json()["id"]
        path = f"/campaigns/{campaign_id}/leads"
        viewer = server.cli("keys", "create", "--role", "viewer")
        assert server.post("/campaigns", campaign_spec(), token=viewer).status_code == 403
        assert server.post("/dnc", {"phones": [BUSY]}, token=viewer).status_code == 403
        assert httpx.get(f"http://127.0.0.1:{server.http_port}/campaigns").status_code == 401

        no_phone = upload(server, path, b"number,name\n+14155550101,Ann\n")
        assert no_phone.status_code == 400 and "no 'phone' column" in no_phone.json()["detail"]
        latin = upload(server, path, "phone,name\n+14155550101,Zo\xeb\n".encode("latin-1"))
        assert latin.status_code == 400 and "not UTF-8" in latin.json()["detail"]
        big = ("phone\n" + "\n".join(f"+1415{n:07d}" for n in range(100_000))).encode()
        too_many = upload(server, path, big)
        assert too_many.status_code == 413 and "upload the list in parts" in too_many.text
        assert server.api(f"/campaigns/{campaign_id}/leads").json()["total"] == 0  # nothing half

        formula = "=cmd|' /C calc'!A0"
        mixed = upload(
            server,
            path,
            f'phone,note\n{ANSWERS},"{formula}"\nnot-a-number,x\n+1,y\n{BUSY},ok\n'.encode(),
        )
        assert mixed.status_code == 200
        report = mixed.json()
        assert report["imported"] == 2 and [e["line"] for e in report["errors"]] == [3, 4]
        stored = leads_by_phone(server, campaign_id)[ANSWERS]
        assert stored["variables"]["note"] == formula  # kept as text
        exported = server.api(f"/campaigns/{campaign_id}/leads.csv").text
        assert "'" + formula in exported

        # the do-not-call list stops POST /calls too
        assert server.post("/dnc", {"phones": [REJECTS]}).json() == {"added": 1}
        job = server.post("/calls", {"to": f"sip:{REJECTS}@127.0.0.1:{port}"}).json()
        deadline = time.monotonic() + 20
        while job["state"] != "done" and time.monotonic() < deadline:
            time.sleep(0.3)
            job = server.api(f"/outbound/{job['id']}").json()
        assert (job["outcome"], job["attempts"], job["call_ids"]) == ("dnc", 0, [])
    finally:
        stop_server(server)


def test_in_a_cluster_the_trunk_limit_holds_across_workers_and_variables_reach_them(
    tmp_path: Path,
) -> None:
    """The runner lives in the control process: [sip] outbound_per_trunk = 2
    caps the campaign's calls (max_concurrent 4) across both workers; the
    campaign's caller_id reaches the workers as each INVITE's From."""
    from tests.cluster import start_cluster

    numbers = [f"+1415555030{n}" for n in range(6)]
    proc, port = callees({}, hold=4.0)
    cluster = start_cluster(
        tmp_path, 2, sip_extra=f'trunk_host = "127.0.0.1:{port}"\noutbound_per_trunk = 2\n'
    )
    try:
        sales = {"name": "sales", "greeting": "Hello {name}."}
        assert cluster.post("/agents", sales).status_code == 201
        spec = campaign_spec(agent="sales", max_concurrent=4, caller_id="+14155550100")
        created = cluster.post("/campaigns", spec)
        campaign_id = created.json()["id"]
        rows = "\n".join(f"{number},Lead {n}" for n, number in enumerate(numbers))
        upload(cluster, f"/campaigns/{campaign_id}/leads", f"phone,name\n{rows}".encode())
        cluster.post(f"/campaigns/{campaign_id}/start", {})
        wait_state(cluster, campaign_id, "finished", 120)
        leads = leads_by_phone(cluster, campaign_id)
        assert {lead["state"] for lead in leads.values()} == {"answered"}
        record = cluster.api(f"/calls/{leads[numbers[3]]['call_id']}").json()
        assert record["worker"] and record["turns"][0]["text"] == "Hello Lead 3."
    finally:
        stop_server(cluster)
    said = callees_report(proc)
    assert said["most_calls"] == 2 and set(said["most_at_once"].values()) == {1}, said
    # the caller ID crossed to the workers: a number at the placing worker's SIP address
    froms = [uri for number in numbers for uri in said["froms"][number]]
    assert len(froms) == 6 and all(uri.startswith("sip:+14155550100@127.0.0.1:") for uri in froms)
