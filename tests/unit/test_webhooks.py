"""Webhooks' logic: signing, the SSRF guard before each attempt, retry with backoff on virtual
time (over a real SQLite outbox; only the receiver is a fake), and the
analysis's handling of a model that answers badly (a fake speech port)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mediaserver.analysis.analyzer import analyse
from mediaserver.analysis.spec import AnalysisSpec
from mediaserver.netguard import NetGuard
from mediaserver.speech import Message, Unavailable
from mediaserver.store import Store
from mediaserver.store.outbox import DELIVERED, FAILED, OutboxStore
from mediaserver.webhooks import signing
from mediaserver.webhooks.delivery import Deliverer, Outcome, RetryPolicy
from tests.virtual_time import run_virtual

SECRET = "whsec_test"


def test_a_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
    expected = "v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    assert signing.signature(SECRET, 1700000000, b'{"a":1}') == expected
    headers = signing.headers(SECRET, "ev-1", 1700000000, b'{"a":1}')
    assert headers[signing.SIGNATURE_HEADER] == expected
    assert headers[signing.ID_HEADER] == "ev-1"
    assert headers[signing.TIMESTAMP_HEADER] == "1700000000"


def test_verify_refuses_a_changed_body_another_secret_or_an_old_timestamp() -> None:
    body, at = b'{"a":1}', 1700000000
    good = signing.signature(SECRET, at, body)
    assert signing.verify(SECRET, body, str(at), good, now=at + 10)
    assert not signing.verify(SECRET, b'{"a":2}', str(at), good, now=at)
    assert not signing.verify("whsec_other", body, str(at), good, now=at)
    assert not signing.verify(SECRET, body, str(at + 1), good, now=at)  # timestamp is signed
    assert not signing.verify(SECRET, body, str(at), good, now=at + 301)  # a replay
    assert not signing.verify(SECRET, body, "soon", good, now=at)


def test_backoff_doubles_up_to_its_cap_then_gives_up() -> None:
    policy = RetryPolicy(base_seconds=1, max_seconds=5, max_attempts=6)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 2, 4, 5, 5, None]


def outbox(tmp_path: Path, url: str) -> OutboxStore:
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    rows = OutboxStore(store.engine)
    rows.create_webhook(url, ["call.started"], SECRET, agent=None, campaign=None)
    with store.engine.begin() as c:
        rows.enqueue(c, "call.started", {"call_id": "c1"}, agent="a")
    return rows


async def inline(work: Any, *args: Any, **kwargs: Any) -> Any:
    """The store's calls run in place: virtual time must not run on while a thread works."""
    return work(*args, **kwargs)


def wall_clock(loop: asyncio.AbstractEventLoop) -> Any:
    """The loop's (virtual) clock as seconds since the epoch, from now on."""
    offset = time.time() - loop.time()
    return lambda: offset + loop.time()


def test_deliveries_are_retried_with_backoff_on_virtual_time(tmp_path: Path) -> None:
    rows = outbox(tmp_path, "http://127.0.0.1:9/hook")
    answers = [Outcome(500, "HTTP 500"), Outcome(None, "no answer within 1 s"), Outcome(200, None)]
    tried: list[tuple[float, dict[str, str], bytes]] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        clock = wall_clock(loop)

        async def send(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
            tried.append((clock(), headers, body))
            return answers[len(tried) - 1]

        deliverer = Deliverer(
            rows,
            NetGuard(["127.0.0.1/32"]),
            RetryPolicy(base_seconds=2, max_seconds=60, max_attempts=5),
            poll_seconds=0.25,
            send=send,
            now=clock,
            offload=inline,
        )
        task = asyncio.create_task(deliverer.run())
        await asyncio.sleep(60)  # three tries; nothing more once it is delivered
        task.cancel()

    run_virtual(scenario())
    times = [t for t, _, _ in tried]
    assert len(tried) == 3
    assert [b - a for a, b in itertools.pairwise(times)] == [2.0, 4.0]
    ids = {h[signing.ID_HEADER] for _, h, _ in tried}
    assert len(ids) == 1  # the same event id on every retry
    for at, headers, body in tried:
        assert signing.verify(
            SECRET,
            body,
            headers[signing.TIMESTAMP_HEADER],
            headers[signing.SIGNATURE_HEADER],
            now=at,
        )
        assert json.loads(body)["data"] == {"call_id": "c1"}
    [log] = rows.deliveries(rows.list_webhooks()[0]["id"])
    assert (log["state"], log["attempts"], log["last_status"]) == (DELIVERED, 3, 200)


def test_a_delivery_out_of_attempts_is_failed_with_its_last_error(tmp_path: Path) -> None:
    rows = outbox(tmp_path, "http://127.0.0.1:9/hook")

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        sent = 0

        async def send(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
            nonlocal sent
            sent += 1
            return Outcome(503, "HTTP 503")

        policy = RetryPolicy(base_seconds=1, max_seconds=1, max_attempts=3)
        deliverer = Deliverer(
            rows,
            NetGuard(["127.0.0.1/32"]),
            policy,
            send=send,
            now=wall_clock(loop),
            offload=inline,
        )
        task = asyncio.create_task(deliverer.run())
        await asyncio.sleep(30)
        task.cancel()
        return sent

    assert run_virtual(scenario()) == 3
    [log] = rows.deliveries(rows.list_webhooks()[0]["id"])
    assert (log["state"], log["attempts"], log["last_error"]) == (FAILED, 3, "HTTP 503")


def test_a_destination_that_became_private_is_not_sent_to(tmp_path: Path) -> None:
    rows = outbox(tmp_path, "http://127.0.0.1:9/hook")

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        sent = 0

        async def send(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
            nonlocal sent
            sent += 1
            return Outcome(200, None)

        policy = RetryPolicy(base_seconds=1, max_seconds=1, max_attempts=2)
        deliverer = Deliverer(
            rows, NetGuard(), policy, send=send, now=wall_clock(loop), offload=inline
        )  # no allow
        await deliverer.deliver_due()
        return sent

    assert run_virtual(scenario()) == 0
    [log] = rows.deliveries(rows.list_webhooks()[0]["id"])
    assert log["attempts"] == 1 and "loopback" in log["last_error"]


class ScriptedSpeech:
    """The Speech port's reply, answering from a script (one answer per call)."""

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[list[Message]] = []

    async def reply(
        self, messages: list[Message], max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        self.asked.append(messages)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        for piece in answer.split(" "):
            yield piece + " "


SPEC = AnalysisSpec(
    ("interested", "not interested"),
    {"type": "object", "required": ["day"], "properties": {"day": {"type": "string"}}},
)
TURNS = [{"speaker": "caller", "text": "Can I come on Monday?"}]
GOOD = json.dumps(
    {
        "summary": "The caller asks for Monday.",
        "disposition": "interested",
        "sentiment": "positive",
        "fields": {"day": "Monday"},
    }
)


def analysed(speech: ScriptedSpeech) -> dict[str, Any]:
    return asyncio.run(analyse(speech, SPEC, TURNS, 200))  # type: ignore[arg-type]


def test_an_answer_in_a_code_block_is_taken() -> None:
    result = analysed(ScriptedSpeech(f"```json\n{GOOD}\n```"))
    assert result["status"] == "done" and result["fields"] == {"day": "Monday"}


def test_a_schema_violation_is_shown_to_the_model_and_asked_once_more() -> None:
    wrong = GOOD.replace('"interested"', '"maybe"')
    speech = ScriptedSpeech(wrong, GOOD)
    result = analysed(speech)
    assert result["status"] == "done" and result["attempts"] == 2
    retry = speech.asked[1][-1]["content"]
    assert "disposition" in retry and "maybe" in retry


def test_two_bad_answers_are_stored_as_failed_with_the_reason() -> None:
    no_field = GOOD.replace('{"day":"Monday"}', "{}").replace('{"day": "Monday"}', "{}")
    result = analysed(ScriptedSpeech("Sure! The caller was happy.", no_field))
    assert result["status"] == "failed"
    assert "2 tries" in result["reason"] and "day" in result["reason"], result


def test_a_model_that_cannot_answer_fails_the_analysis() -> None:
    result = analysed(ScriptedSpeech(Unavailable("busy")))
    assert result == {"status": "failed", "reason": "the model did not answer: busy"}
