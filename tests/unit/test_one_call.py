"""POST /calls jobs as one-lead campaigns: the spec a request makes (retries
as the in-memory queue had them, plus attempts cut short), the job as the API
shows it; and a cluster worker that refuses a call (503: it began to drain)
sends the call back to wait for another, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from mediaserver.agents import DEFAULT_AGENT
from mediaserver.amd.policy import AmdPolicy
from mediaserver.campaigns.model import CampaignSpec
from mediaserver.campaigns.one_call import CallRules, call_spec, job_view
from mediaserver.campaigns.runner import after, machine_policy
from mediaserver.cluster.proto import WorkerAddress
from mediaserver.cluster.remote import RemoteCalls, Workers
from mediaserver.dialer import DialOptions

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_busy_and_no_answer_are_called_again_retries_times_and_nothing_else() -> None:
    spec = call_spec("default", "default", None, CallRules(retries=2, retry_seconds=60))
    for outcome in ("busy", "no_answer"):
        assert after(spec, outcome, 1, NOW)[0] == "queued"
        assert after(spec, outcome, 2, NOW)[0] == "queued"
        assert after(spec, outcome, 3, NOW) == (outcome, None)  # 1 call + 2 retries
    assert after(spec, "failed", 1, NOW) == ("failed", None)
    assert after(spec, "rejected", 1, NOW) == ("rejected", None)
    assert after(spec, "voicemail", 1, NOW) == ("voicemail", None)
    # cut short by a stop or a crash (or waiting for a worker then): called again
    assert after(spec, "unclean", 1, NOW)[0] == "queued"
    assert spec.amd is False  # no answering-machine detection unless asked


def test_a_campaign_without_an_unclean_delay_retries_cut_attempts_as_failed_ones() -> None:
    spec = CampaignSpec(name="spring", retry_seconds={"failed": 30})  # type: ignore[arg-type]
    assert after(spec, "unclean", 1, NOW) == ("queued", after(spec, "failed", 1, NOW)[1])
    spec = CampaignSpec(name="spring", retry_seconds={"failed": None})  # type: ignore[arg-type]
    assert after(spec, "unclean", 1, NOW) == ("failed", None)


def test_the_amd_policy_survives_the_store_as_the_runner_rebuilds_it() -> None:
    policy = AmdPolicy.of("message", "Hi {name}, call us back.", {"name": "Ann"})
    spec = call_spec("sales", "default", policy, CallRules())
    stored = CampaignSpec.model_validate(json.loads(json.dumps(spec.model_dump())))
    assert stored.amd and machine_policy(stored, {"name": "Ann"}) == policy


def job_row(**overrides: Any) -> dict[str, Any]:
    spec = call_spec("sales", "pbx", None, CallRules())
    return {
        "id": 7,
        "spec": spec.model_dump(),
        "created_at": NOW,
        "phone": "sip:+14155550101@127.0.0.1:5062",
        "variables": {},
        "state": "queued",
        "attempts": 0,
        "outcome": None,
        "sip_code": None,
        "attempt_log": [],
        **overrides,
    }


@pytest.mark.parametrize(
    ("lead", "job"),
    [
        ({}, ("queued", None)),
        ({"state": "calling", "attempts": 1}, ("calling", None)),
        ({"attempts": 1, "outcome": "no_answer"}, ("waiting", "no answer")),
        ({"state": "dnc", "outcome": "dnc"}, ("done", "dnc")),
        ({"state": "stopped"}, ("done", "stopped")),  # POST /campaigns/{id}/stop
        ({"state": "failed", "attempts": 3, "outcome": "unclean"}, ("done", "failed")),
    ],
)
def test_a_job_reads_as_the_api_always_showed_it(
    lead: dict[str, Any], job: tuple[str, str | None]
) -> None:
    shown = job_view(job_row(**lead))
    assert (shown["state"], shown["outcome"]) == job
    assert (shown["agent"], shown["trunk"], shown["to"]) == (
        "sales",
        "pbx",
        "sip:+14155550101@127.0.0.1:5062",
    )


def test_a_mailbox_is_an_answered_job_whose_amd_says_machine() -> None:
    decided = {"verdict": "machine", "at_s": 2.1, "reason": "long greeting", "beep": True}
    shown = job_view(
        job_row(
            state="voicemail",
            attempts=2,
            outcome="voicemail",
            sip_code=200,
            attempt_log=[
                {"call_id": "a", "amd": None},
                {"call_id": "b", "amd": decided},
            ],
        )
    )
    assert (shown["state"], shown["outcome"], shown["call_ids"]) == ("done", "answered", ["a", "b"])
    assert shown["amd"] == decided


class DrainingWorker(BaseHTTPRequestHandler):
    """A worker whose status says it takes calls, but that refuses the first
    dial with 503 (it began to drain since the control's last poll)."""

    dials: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        status = {
            "draining": False,
            "sip_calls": 0,
            "webrtc_calls": 0,
            "sip_capacity": 4,
            "webrtc_capacity": 20,
        }
        self.reply(200, status)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.dials.append(1)
        if len(self.dials) == 1:
            self.reply(503, {"detail": "worker w1 is draining"})
        else:
            self.reply(200, {"outcome": "answered", "code": 200, "reason": "", "call_id": "c1"})

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A status poll cut off by the test's end (a broken pipe) is no error."""


@pytest.fixture
def worker_port() -> Iterator[int]:
    DrainingWorker.dials = []
    server = QuietServer(("127.0.0.1", 0), DrainingWorker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_call_a_draining_worker_refuses_waits_for_a_worker_that_takes_it(
    worker_port: int,
) -> None:
    async def main() -> tuple[str, int, str, str]:
        workers = Workers((WorkerAddress("w1", "127.0.0.1", 5070, worker_port),), "secret")
        workers.start()
        try:
            calls = RemoteCalls(workers, 60.0)
            return await calls.dial("sip:+14155550101@pbx", DEFAULT_AGENT, 0, DialOptions())
        finally:
            await workers.close()

    outcome, code, _, call_id = asyncio.run(asyncio.wait_for(main(), 30))
    assert (outcome, code, call_id) == ("answered", 200, "c1")
    assert len(DrainingWorker.dials) == 2  # refused once, then placed
