"""A cluster places outbound calls on a worker over loopback HTTP: the AMD
policy goes with the call and the worker's verdict comes back to the dialler."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx

from mediaserver.agents import DEFAULT_AGENT, Agent
from mediaserver.amd.detector import AmdDecision
from mediaserver.amd.policy import AmdPolicy
from mediaserver.cluster.proto import WorkerAddress
from mediaserver.cluster.remote import RemoteCalls, Workers
from mediaserver.cluster.worker_api import SECRET_HEADER, worker_app
from mediaserver.dialer import DialOptions
from mediaserver.metrics import Metrics
from tests.browser import serving

SECRET = "worker-secret"
DECISION = AmdDecision("machine", 2.46, "beep", beep=True)


@dataclass
class FakeCalls:
    """The worker's Calls: records what it was asked, says the call met a machine."""

    asked: list[AmdPolicy | None] = field(default_factory=list)
    options: list[DialOptions] = field(default_factory=list)
    agents: Any = field(
        default_factory=lambda: SimpleNamespace(get=lambda name: (DEFAULT_AGENT, 1))
    )

    async def dial(
        self, uri: str, agent: Agent, version: int, options: DialOptions
    ) -> tuple[str, int, str, str]:
        self.asked.append(options.amd)
        self.options.append(options)
        if options.amd is not None and options.on_amd is not None:
            options.on_amd(DECISION)
        return "answered", 200, "OK", "call-1"


def fake_worker(calls: FakeCalls) -> Any:
    return SimpleNamespace(
        secret=SECRET,
        me=SimpleNamespace(worker="w1"),
        draining=False,
        browser=None,
        calls_=calls,
        sip_calls=lambda: 0,
        webrtc_calls=lambda: 0,
        config=SimpleNamespace(
            cluster=SimpleNamespace(calls_per_worker=4), webrtc=SimpleNamespace(max_calls=20)
        ),
    )


def test_the_amd_policy_reaches_the_worker_and_its_verdict_comes_back() -> None:
    calls = FakeCalls()
    policy = AmdPolicy.of("message", "Hi {name}, call us.", {"name": "Ann"})
    with serving(worker_app(fake_worker(calls), Metrics())) as url:
        port = int(url.rsplit(":", 1)[1])

        async def place() -> tuple[list[AmdDecision], list[AmdDecision], tuple[Any, ...]]:
            workers = Workers((WorkerAddress("w1", "127.0.0.1", 5060, port),), SECRET)
            workers.start()
            try:
                remote = RemoteCalls(workers, max_call_seconds=10)
                with_amd: list[AmdDecision] = []
                result = await remote.dial(
                    "sip:lead@127.0.0.1",
                    DEFAULT_AGENT,
                    0,
                    DialOptions(amd=policy, on_amd=with_amd.append),
                )
                without: list[AmdDecision] = []
                await remote.dial(
                    "sip:lead@127.0.0.1", DEFAULT_AGENT, 0, DialOptions(on_amd=without.append)
                )
                return with_amd, without, result
            finally:
                await workers.close()

        with_amd, without, result = asyncio.run(place())
    assert result == ("answered", 200, "OK", "call-1")
    assert calls.asked == [policy, None]
    assert calls.asked[0] is not None and calls.asked[0].message == "Hi Ann, call us."
    assert with_amd == [DECISION] and without == []


def test_every_dial_option_reaches_the_worker_and_a_bad_caller_id_is_refused() -> None:
    calls = FakeCalls()
    sent = DialOptions(
        ring_seconds=12.5,
        trunk="carrier",
        variables={"name": "Ann"},
        caller_id="+14155550100",
    )
    with serving(worker_app(fake_worker(calls), Metrics())) as url:
        port = int(url.rsplit(":", 1)[1])

        async def place() -> None:
            workers = Workers((WorkerAddress("w1", "127.0.0.1", 5060, port),), SECRET)
            workers.start()
            try:
                await RemoteCalls(workers, max_call_seconds=10).dial(
                    "sip:lead@127.0.0.1", DEFAULT_AGENT, 0, sent
                )
            finally:
                await workers.close()

        asyncio.run(place())
        bad = httpx.post(
            f"{url}/worker/dial",
            json={"uri": "sip:lead@127.0.0.1", "caller_id": "Sales"},
            headers={SECRET_HEADER: SECRET},
        )
    got = calls.options[0]
    assert (got.ring_seconds, got.trunk, dict(got.variables), got.caller_id) == (
        12.5,
        "carrier",
        {"name": "Ann"},
        "+14155550100",
    )
    assert bad.status_code == 422 and "caller_id" in bad.text
    assert len(calls.options) == 1  # the refused one placed nothing
