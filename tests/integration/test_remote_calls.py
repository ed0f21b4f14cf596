"""SIP calls through `mediaserver serve` with [models] backend = "remote":
against the real inference service (killed mid-call and brought back), and
against a deliberately broken OpenAI-compatible server. The call survives
every failure: the caller hears the fallback phrase, one log line with the
call id says why, and the next question is answered."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mediaserver.agents import Agent
from mediaserver.harness import read_wav, write_wav
from tests.inference_service import Service, start_service, stop_service
from tests.openai_stub import Script, StubServer
from tests.server import Server, start_server, stop_server
from tests.speech import speak

pytestmark = pytest.mark.integration
RATE = 16000
FALLBACK = "saying the fallback phrase"


def remote_config(url: str, timeout: float = 10.0) -> str:
    return f'[models]\nbackend = "remote"\nurl = "{url}"\ntimeout_seconds = {timeout}\n'


def questions_wav(tmp: Path, spoken: list[tuple[float, str]], seconds: float) -> Path:
    """One 16 kHz WAV with each text spoken (espeak-ng) at its time."""
    out = np.zeros(int(seconds * RATE), np.int16)
    for i, (at, text) in enumerate(spoken):
        speak(text, tmp / f"q{i}.wav")
        pcm = read_wav(tmp / f"q{i}.wav", 30)
        start = int(at * RATE)
        out[start : start + pcm.size] = pcm[: out.size - start]
    path = tmp / "questions.wav"
    write_wav(path, out)
    return path


def call(server: Server, wav: Path, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "tests.sip_caller", "--to", server.uri),
            *("--play", str(wav), "--play-at", "0", "--seconds", str(seconds)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def outcome(caller: subprocess.Popen[str], seconds: float) -> dict[str, object]:
    out, _ = caller.communicate(timeout=seconds + 60)
    return dict(json.loads(out.strip().splitlines()[-1]))


def log_lines(server: Server, since: int, needle: str) -> list[dict[str, object]]:
    lines = server.log.read_text(errors="replace")[since:].splitlines()
    return [json.loads(line) for line in lines if needle in line and line.startswith("{")]


def wait_count(server: Server, since: int, needle: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(log_lines(server, since, needle)) < count:
        assert time.monotonic() < deadline, f"never {count}x {needle!r}:\n{server.tail()}"
        time.sleep(0.2)


def agent_texts(server: Server) -> list[str]:
    turns = server.newest_call()["turns"]
    assert isinstance(turns, list)
    return [str(t["text"]) for t in turns if t["speaker"] == "agent"]


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


def test_a_broken_engine_gives_the_fallback_phrase_and_the_call_goes_on(
    stub: StubServer, tmp_path: Path
) -> None:
    """Malformed SSE, a 500, a stalled stream, speech at a contradicted rate:
    each gives the fallback phrase and one log line with the call id; then
    the engine mends and the next question is answered."""
    script: Script = stub.script
    server = start_server(tmp_path, remote_config(stub.url, timeout=2.0))
    try:
        breakages = [
            ("chat", "malformed"),
            ("chat", "500"),
            ("chat", "stall"),
            ("speech", "wrong_rate"),
        ]
        times = [5.0 + 9.0 * i for i in range(len(breakages) + 1)]
        seconds = times[-1] + 9
        # no pause inside (a comma would start a speculative answer: a second failure line)
        wav = questions_wav(tmp_path, [(t, "What time do you open today") for t in times], seconds)
        since = server.mark()
        caller = call(server, wav, seconds)
        for i, (endpoint, mode) in enumerate(breakages):
            setattr(script, endpoint, mode)
            wait_count(server, since, FALLBACK, i + 1, timeout=15)
            setattr(script, endpoint, "ok")
        result = outcome(caller, seconds)
        said = agent_texts(server)
        record_id = server.newest_call()["id"]
    finally:
        stop_server(server)
        script.chat = script.speech = "ok"
    assert result["connected"]
    assert said[1:] == [Agent().fallback] * len(breakages) + [script.answer.strip()], said
    failures = log_lines(server, since, FALLBACK)
    assert len(failures) == len(breakages)  # one line each, no stack
    assert all(line["call_id"] == record_id and line["level"] == "warning" for line in failures)
    reasons = " ".join(str(line["msg"]) for line in failures)
    for expected in ("BadResponse", "Unavailable", "TimedOut", "wrong sample rate"):
        assert expected in reasons, reasons
    assert "Traceback" not in server.log.read_text()


def test_new_calls_are_refused_with_503_while_the_service_is_saturated(
    stub: StubServer, tmp_path: Path
) -> None:
    server = start_server(tmp_path, remote_config(stub.url))
    token = server.cli("tokens", "create")
    offer = {"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "type": "offer"}
    try:
        silence = tmp_path / "silence.wav"
        write_wav(silence, np.zeros(RATE, np.int16))
        stub.script.health = "saturated"
        time.sleep(2.5)  # the server asks /healthz every second
        refused = outcome(call(server, silence, 3), 3)
        browser_refused = server.post("/webrtc/offer", {**offer, "agent": "default"}, token=token)
        stub.script.health = "ok"
        time.sleep(2.5)
        taken = outcome(call(server, silence, 3), 3)
        browser_taken = server.post("/webrtc/offer", {**offer, "agent": "default"}, token=token)
    finally:
        stub.script.health = "ok"
        stop_server(server)
    assert (refused["connected"], refused["status"]) == (False, 503)
    assert taken["connected"]
    assert browser_refused.status_code == 503, browser_refused.text
    assert "saturated" in browser_refused.json()["detail"]
    assert browser_taken.status_code != 503  # this half-offer is then judged on its merits
    assert "refused: the inference service is saturated" in server.log.read_text()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = start_service(tmp_path)
    yield svc
    stop_service(svc)


def test_the_inference_service_killed_mid_call_then_back(service: Service, tmp_path: Path) -> None:
    server = start_server(tmp_path, remote_config(service.url))
    try:
        times = [5.5, 16.0, 36.0]
        spoken = [
            "What time do you open on Saturday?",
            "Are you open on Sunday?",
            "Do you take new patients?",
        ]
        seconds = times[-1] + 14
        wav = questions_wav(tmp_path, list(zip(times, spoken, strict=True)), seconds)
        since = server.mark()
        caller = call(server, wav, seconds)
        wait_count(server, since, "AgentText", 2, timeout=30)  # the greeting, the first answer
        service.proc.kill()  # mid-call, no warning
        service.proc.wait()
        wait_count(server, since, FALLBACK, 1, timeout=20)
        back = start_service(tmp_path, port=service.port)  # where the server expects it
        result = outcome(caller, seconds)
        stop_service(back)
        said = agent_texts(server)
    finally:
        stop_server(server)
    assert result["connected"]
    assert len(said) >= 4 and said[2] == Agent().fallback, said  # greeting, answer, fallback, ...
    assert said[3] != Agent().fallback and said[3] != Agent().reprompt, said  # recovered
    transcripts = re.findall(r"Transcript\(text='([^']*)'", server.log.read_text()[since:])
    assert any("new patien" in t.lower() for t in transcripts), transcripts  # -ts or -ce
