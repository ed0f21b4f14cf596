"""Log lines: JSON with the call id, and no secrets or whole phone numbers."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from mediaserver import logs


def test_secrets_and_phone_numbers_are_masked() -> None:
    assert logs.mask("INVITE from sip:+15551234567@trunk") == "INVITE from sip:***567@trunk"
    assert logs.mask("call 0044 20 7946 0958 now") == "call ***958 now"
    assert "secret" not in logs.mask("key msk_ab12cd_secretXYZ-1 used")
    assert logs.mask("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert "Ye65" not in logs.mask("token eyJhZ2VudCI6bnVsbCwiZXhw.Ye658QJi5oSz")
    kept = "call 3 at 12:30, 9 am, 127.0.0.1:5060, 2026-11-22, received 12.34 s, port 40435"
    assert logs.mask(kept) == kept


def test_json_lines_carry_the_call_id_of_the_task_that_logs() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    async def call(name: str) -> None:
        logs.call_id.set(name)
        await asyncio.sleep(0)
        logger.info("caller said %s", "my number is +44 7700 900123")

    async def both() -> None:
        await asyncio.gather(call("a"), call("b"))
        logger.info("outside")

    asyncio.run(both())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted(line.get("call_id") for line in lines[:2]) == ["a", "b"]
    assert "call_id" not in lines[2]
    assert lines[0]["msg"] == "caller said my number is ***123"
    assert lines[0]["level"] == "info" and lines[0]["ts"].endswith("Z")
