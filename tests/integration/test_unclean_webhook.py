"""A real pjsua2 call into a real `mediaserver serve`, the server SIGKILLed
mid-call and restarted: the webhook receiver gets the call's call.ended
(end_reason unclean, the transcript so far, the recording URL) once, signed;
a second restart sends it again to nobody (one delivery in the log)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mediaserver.webhooks import signing
from tests.integration.test_webhooks import Receiver, receiver  # noqa: F401 (the fixture)
from tests.server import start_server, stop_server

pytestmark = pytest.mark.integration

CONFIG = """
[webhooks]
allow = ["127.0.0.1/32"]
timeout_seconds = 2.0
retry_base_seconds = 0.3
retry_max_seconds = 1.0
poll_seconds = 0.1
public_url = "https://calls.example"
"""


def test_a_call_cut_by_a_kill_sends_one_signed_unclean_call_ended(
    tmp_path: Path,
    receiver: Receiver,  # noqa: F811
) -> None:
    receiver.mode = "ok"
    first = start_server(tmp_path, CONFIG)
    caller = None
    try:
        url = f"http://127.0.0.1:{receiver.port}/hooks"
        created = first.post("/webhooks", {"url": url, "events": ["call.ended"]})
        assert created.status_code == 201, created.text
        hook = created.json()
        caller = subprocess.Popen(
            [sys.executable, "-m", "tests.sip_caller", "--to", first.uri, "--seconds", "60"],
            stdout=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        call: dict[str, object] = {}
        while time.monotonic() < deadline and not call.get("turns"):  # the greeting is said
            call = first.newest_call(ended=False, timeout=60)
            time.sleep(0.2)
        assert call.get("turns") and call["recording_path"], first.tail()
    finally:
        first.proc.kill()  # SIGKILL mid-call: the call is never ended
        first.proc.wait(10)
        if caller is not None:
            caller.kill()
            caller.wait(10)
    assert call["ended_at"] is None
    second = start_server(tmp_path, CONFIG)
    try:
        ended = receiver.wait_for("call.ended", timeout=60)
        data = ended["data"]
        assert data["call_id"] == call["id"] and data["end_reason"] == "unclean", data
        greeting = [t["text"] for t in call["turns"]]  # type: ignore[attr-defined]
        assert [t["text"] for t in data["transcript"]][: len(greeting)] == greeting
        assert data["recording_url"] == f"https://calls.example/calls/{call['id']}/recording"
        assert second.api(f"/calls/{call['id']}").json()["end_reason"] == "unclean"
    finally:
        stop_server(second)
    third = start_server(tmp_path, CONFIG)  # closes nothing: the call is closed
    try:
        log = third.api(f"/webhooks/{hook['id']}/deliveries").json()
        assert [d["event_type"] for d in log] == ["call.ended"], log
    finally:
        stop_server(third)
    with receiver.lock:
        requests = list(receiver.requests)
    assert len(requests) == 1, [body for _, _, body in requests]  # no call.ended twice
    _, headers, body = requests[0]
    assert signing.verify(
        hook["secret"],
        body,
        headers[signing.TIMESTAMP_HEADER],
        headers[signing.SIGNATURE_HEADER],
        now=time.time(),
    )
