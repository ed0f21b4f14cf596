"""/ws/audio: the README's example client, and bad peers, against a real
`mediaserver serve` with real models."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from mediaserver.harness import read_wav, write_wav
from native import g711
from tests.server import Server, start_server, stop_server
from tests.speech import speak

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
CONFIG = "[websocket]\nmax_calls = 3\nmedia_timeout_seconds = 3\nstart_timeout_seconds = 3\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("ws_audio"), CONFIG)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def token(server: Server) -> str:
    return server.cli("tokens", "create")


def url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.http_port}/ws/audio"


def example_client() -> str:
    """The example client's code, as the README shows it."""
    text = README.read_text()
    found = re.search(r"<!-- example: ws_audio_client.py.*?-->\n```python\n(.*?)```", text, re.S)
    assert found is not None, "the README has no example client"
    return found.group(1)


def test_the_readme_example_client_talks_to_the_agent(
    server: Server, token: str, tmp_path: Path
) -> None:
    client = tmp_path / "ws_audio_client.py"
    client.write_text(example_client())
    speak("What time do you open on Saturday?", tmp_path / "spoken.wav")
    question = tmp_path / "question.wav"
    write_wav(question, read_wav(tmp_path / "spoken.wav", 60))
    answer = tmp_path / "answer.wav"
    result = subprocess.run(
        [sys.executable, str(client), url(server), token, str(question), str(answer)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr + server.tail()
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "end", kinds
    assert events[-1]["reason"] == "caller_hangup"
    # the greeting clause by clause as it plays, before its transcript
    first_clause = kinds.index("agent_clause")
    assert first_clause < kinds.index("transcript"), kinds
    assert "Riverside" in " ".join(e["text"] for e in events if e["type"] == "agent_clause")
    said = [e for e in events if e["type"] == "transcript"]
    assert any(e["speaker"] == "caller" and "saturday" in e["text"].lower() for e in said), said
    agent = [e["text"] for e in said if e["speaker"] == "agent"]
    assert len(agent) >= 2 and "Riverside" in agent[0], said  # the greeting, then an answer
    answers = [e for e in said if e["speaker"] == "agent"][1:]
    assert answers[0]["latency_ms"] > 0, answers
    heard = read_wav(answer, 60)
    assert heard.size > 16000 * 3 and np.abs(heard).max() > 3000  # the agent's voice came back
    record = server.newest_call()
    assert record["transport"] == "websocket" and record["end_reason"] == "caller_hangup"
    assert events[-1]["record_id"] == record["id"]


async def open_call(server: Server, token: str, start: dict[str, Any] | None) -> Any:
    ws = await websockets.connect(
        url(server), additional_headers={"Authorization": f"Bearer {token}"}
    )
    if start is not None:
        await ws.send(json.dumps({"type": "start", **start}))
    return ws


async def close_of(ws: Any) -> tuple[int | None, str]:
    """Read until the server closes: (code, reason)."""
    try:
        async with asyncio.timeout(15):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason or ""


def test_mulaw_at_8_khz_brings_the_greeting_back_in_mulaw(server: Server, token: str) -> None:
    async def scenario() -> tuple[dict[str, Any], bytes]:
        ws = await open_call(server, token, {"agent": "default", "encoding": "mulaw", "rate": 8000})
        started = json.loads(await ws.recv())
        audio = bytearray()
        deadline = time.monotonic() + 30
        while len(audio) < 8000 * 2 and time.monotonic() < deadline:
            await ws.send(b"\xff" * 160)  # µ-law silence, 20 ms
            try:
                message = await asyncio.wait_for(ws.recv(), 0.02)
            except TimeoutError:
                continue
            if isinstance(message, bytes):
                audio += message
        await ws.send(json.dumps({"type": "hangup"}))
        await close_of(ws)
        return started, bytes(audio)

    started, audio = asyncio.run(scenario())
    assert started == {
        "type": "started",
        "call_id": started["call_id"],
        "encoding": "mulaw",
        "rate": 8000,
        "frame_ms": 20,
    }
    assert len(audio) >= 16000 and len(audio) % 160 == 0  # 20 ms frames of 8 kHz µ-law
    pcm = g711.decoder("ulaw", 16000).decode(audio[:16000])
    assert np.abs(pcm).max() > 3000  # the greeting, not silence


def test_bad_peers_are_closed_with_the_right_codes(server: Server, token: str) -> None:
    pcm16 = {"agent": "default", "encoding": "pcm16", "rate": 16000}

    async def after(
        start: dict[str, Any] | None, message: str | bytes | None
    ) -> tuple[int | None, str]:
        ws = await open_call(server, token, start)
        if message is not None:
            await ws.send(message)
        return await close_of(ws)

    async def keep_talking(ws: Any) -> None:
        while True:
            await ws.send(bytes(640))
            await asyncio.sleep(0.02)

    async def scenario() -> dict[str, tuple[int | None, str]]:
        healthy = await open_call(server, token, pcm16)
        talking = asyncio.create_task(keep_talking(healthy))
        outcomes = {
            "rate": await after({**pcm16, "rate": 44100}, None),
            "encoding": await after({**pcm16, "encoding": "opus"}, None),
            "json": await after(None, "{nope"),
            "half_sample": await after(pcm16, b"\x00" * 321),
            "big": await after(pcm16, b"\x00" * (1 << 20)),  # past uvicorn's ws_max_size
            "over_limit": await after(pcm16, b"\x00" * 100_000),  # past max_message_bytes
            "early_audio": await after(None, b"\x00" * 640),
            "unknown": await after(pcm16, json.dumps({"type": "dance"})),
            "agent": await after({**pcm16, "agent": "nobody"}, None),
            "stalled": await after(pcm16, None),
        }
        assert healthy.close_code is None  # untouched by its neighbours
        talking.cancel()
        await healthy.send(json.dumps({"type": "hangup"}))
        outcomes["healthy"] = await close_of(healthy)
        return outcomes

    outcomes = asyncio.run(scenario())
    expected = {
        "rate": 1003,
        "encoding": 1003,
        "json": 1007,
        "half_sample": 1007,
        "big": 1009,
        "over_limit": 1009,
        "early_audio": 1008,
        "unknown": 1003,
        "agent": 1008,
        "stalled": 1008,
        "healthy": 1000,
    }
    assert {k: code for k, (code, _) in outcomes.items()} == expected, outcomes
    assert all(reason for _, reason in outcomes.values()), outcomes
    assert "no audio" in outcomes["stalled"][1]
    assert "at most 65536" in outcomes["over_limit"][1], outcomes
    assert server.alive()


def test_tokens_and_the_call_cap(server: Server, token: str) -> None:
    async def refused(headers: dict[str, str], path: str = "") -> int:
        with pytest.raises(websockets.InvalidStatus) as refusal:
            await websockets.connect(url(server) + path, additional_headers=headers)
        return int(refusal.value.response.status_code)

    async def scenario() -> tuple[list[int], tuple[int | None, str]]:
        codes = [
            await refused({}),
            await refused({"Authorization": "Bearer not.a.token"}),
            await refused({"Authorization": f"Bearer {server.key}"}),  # an API key is not one
        ]
        held = [
            await websockets.connect(f"{url(server)}?token={token}"),
            await open_call(server, token, None),
            await open_call(server, token, None),
        ]
        over = await close_of(await open_call(server, token, None))  # past max_calls = 3
        for ws in held:
            await ws.close()
        return codes, over

    codes, over = asyncio.run(scenario())
    assert codes == [403, 403, 403]
    assert over[0] == 1013 and "slots" in over[1], over
