"""Registration trunks against a real Kamailio registrar with digest auth."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.kamailio import kamailio
from tests.server import free_sip_port, start_server, stop_server

pytestmark = pytest.mark.integration
CALLER = (sys.executable, "-m", "tests.sip_caller")


def test_a_trunk_registers_with_digest_auth_and_a_wrong_password_does_not_loop(
    tmp_path: Path,
) -> None:
    port = free_sip_port()
    registrar = f"sip:127.0.0.1:{port}"
    trunks = (
        f'[[sip.trunks]]\nname = "carrier"\nregistrar = "{registrar}"\n'
        'username = "alice"\npassword = "s3cret"\nretry_seconds = 10\n'
        f'[[sip.trunks]]\nname = "typo"\nregistrar = "{registrar}"\n'
        'username = "bob"\npassword = "wrong"\nretry_seconds = 10\n'
    )
    with kamailio(tmp_path, port, "s3cret") as registrar_log:
        server = start_server(tmp_path, trunks)
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                state = {t["name"]: t for t in server.api("/trunks").json()}
                if state["carrier"]["registered"] and state["typo"]["code"]:
                    break
                time.sleep(0.3)
            assert state["carrier"]["registered"] and state["carrier"]["code"] == 200
            assert state["carrier"]["expires"] > 0
            assert not state["typo"]["registered"] and state["typo"]["code"] in (401, 403)
            ready = server.api("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["trunk typo"] is False
            time.sleep(5)  # a wrong password is retried after retry_seconds, not at once
            challenged = registrar_log.read_text().count("REGISTER bob: challenged")
            assert 1 <= challenged <= 2, challenged
            # a call to the registered user reaches the agent through the registrar
            result = subprocess.run(
                [*CALLER, "--to", f"sip:alice@127.0.0.1:{port}", "--seconds", "6"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            assert json.loads(result.stdout.strip().splitlines()[-1])["connected"]
            record = server.newest_call()
            assert record["direction"] == "inbound" and "alice" in str(record["to_uri"])
        finally:
            stop_server(server)


def test_a_call_through_a_registration_trunk_presents_the_caller_id_at_the_trunks_domain(
    tmp_path: Path,
) -> None:
    """A number as caller ID is sent at the trunk account's domain, not the
    server's own address. The callee stands in for the carrier (it refuses
    the REGISTER; a call goes out through the trunk's account all the same)."""
    from tests.integration.test_sip import listening_callee

    callee, port = listening_callee("--respond", "486", "--seconds", "20")
    carrier = f"127.0.0.1:{port}"
    server = start_server(
        tmp_path,
        f'[[sip.trunks]]\nname = "carrier"\nregistrar = "sip:{carrier}"\n'
        f'username = "alice"\npassword = "s3cret"\ndomain = "{carrier}"\n',
    )
    try:
        body = {"to": "+14155550123", "trunk": "carrier", "caller_id": "+14155550199"}
        placed = server.post("/calls", body)
        assert placed.status_code == 202, placed.text
        job = placed.json()
        deadline = time.monotonic() + 40
        while job["state"] != "done" and time.monotonic() < deadline:
            time.sleep(0.5)
            job = server.api(f"/outbound/{job['id']}").json()
        assert (job["outcome"], job["sip_code"]) == ("busy", 486), job
    finally:
        stop_server(server)
    said = json.loads(callee.communicate(timeout=30)[0].strip().splitlines()[-1])
    assert said["froms"] == [f"sip:+14155550199@{carrier}"] * 2, said
