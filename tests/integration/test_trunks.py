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
