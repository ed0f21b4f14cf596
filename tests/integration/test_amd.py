"""Answering-machine detection on real outbound calls: `mediaserver serve`
calls a pjsua2 callee on loopback that plays a voicemail greeting ending in
a beep (or a person's "hello?") and records what it hears."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediaserver.harness import read_wav, write_wav
from models import registry, store
from models.stt import WhisperSTT
from native import energy
from tests.integration.test_sip import listening_callee, words
from tests.server import Server, start_server, stop_server
from tests.speech import speak

pytestmark = pytest.mark.integration
RATE = 16000
GREETING = (
    "Hi, you have reached John Smith. I can't take your call right now. "
    "Please leave a message after the tone."
)
AMD = {
    "on_machine": "message",
    "voicemail_message": "Hello {name}, your cleaning is confirmed for Tuesday at nine. Goodbye.",
    "variables": {"name": "Maria"},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("amd"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def stt() -> WhisperSTT:
    model = WhisperSTT(store.locate(registry.by_name("whisper-tiny.en")))
    model.load()
    return model


def spoken(text: str, tmp_path: Path) -> np.ndarray:
    speak(text, tmp_path / "spoken.wav")
    return read_wav(tmp_path / "spoken.wav", 60)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


def call_with_amd(server: Server, port: int, amd: dict[str, Any]) -> dict[str, Any]:
    placed = server.post("/calls", {"to": f"sip:callee@127.0.0.1:{port}", "amd": amd})
    assert placed.status_code == 202, placed.text
    job = placed.json()
    deadline = time.monotonic() + 60
    while job["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.5)
        job = server.api(f"/outbound/{job['id']}").json()
    assert job["state"] == "done" and job["outcome"] == "answered", job
    call: dict[str, Any] = {}
    for _ in range(40):  # the store's writer thread catches up
        call = server.api(f"/calls/{job['call_ids'][-1]}").json()
        if call["ended_at"] and call["amd"]:
            break
        time.sleep(0.25)
    return {"job": job, "call": call}


def first_sound_s(pcm: np.ndarray) -> float | None:
    """Where the first 60 ms louder than -40 dBFS start."""
    frames = [energy.level_db(pcm[i : i + 320]) > -40 for i in range(0, pcm.size - 320, 320)]
    for i in range(len(frames) - 3):
        if all(frames[i : i + 3]):
            return i * 0.02
    return None


def test_a_voicemail_gets_the_message_after_the_beep(
    server: Server, stt: WhisperSTT, tmp_path: Path
) -> None:
    greeting = spoken(GREETING, tmp_path)
    t = np.arange(int(0.5 * RATE)) / RATE
    beep = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    before_beep = np.concatenate([silence(0.3), greeting, silence(0.6)])
    beep_end = (before_beep.size + beep.size) / RATE
    write_wav(tmp_path / "voicemail.wav", np.concatenate([before_beep, beep, silence(12)]))
    record = tmp_path / "heard.wav"
    callee, port = listening_callee(
        "--play", str(tmp_path / "voicemail.wav"), "--record", str(record), "--seconds", "30"
    )
    placed = call_with_amd(server, port, AMD)
    callee_said = json.loads(callee.communicate(timeout=60)[0].strip().splitlines()[-1])
    job, call = placed["job"], placed["call"]
    assert callee_said["connected"]
    assert job["amd"]["verdict"] == "machine" and job["amd"]["at_s"] <= 3.5, job
    assert (call["amd"], call["amd_beep"], call["end_reason"]) == ("machine", True, "voicemail")
    assert 0 < call["amd_decision_s"] <= 3.5
    kinds = [(e["kind"], e["value"]) for e in call["events"]]
    assert ("amd_action", "message") in kinds and kinds[0][0] == "amd", kinds

    heard = read_wav(record, 60)
    start = first_sound_s(heard)
    assert start is not None, "the callee heard nothing"
    assert beep_end <= start <= beep_end + 2.5, (start, beep_end)
    said = words(stt.transcribe(heard[int(start * RATE) :]).text)
    assert {"maria", "tuesday"} <= said, said
    assert "riverside" not in said  # no greeting to a machine


def test_a_person_saying_hello_gets_the_greeting_not_the_message(
    server: Server, stt: WhisperSTT, tmp_path: Path
) -> None:
    hello = np.concatenate([silence(0.5), spoken("Hello?", tmp_path), silence(14)])
    write_wav(tmp_path / "hello.wav", hello)
    record = tmp_path / "heard.wav"
    callee, port = listening_callee(
        "--play", str(tmp_path / "hello.wav"), "--record", str(record), "--seconds", "12"
    )
    placed = call_with_amd(server, port, AMD)
    callee.communicate(timeout=60)
    job, call = placed["job"], placed["call"]
    assert job["amd"]["verdict"] == "human", job
    assert call["amd"] == "human" and call["end_reason"] != "voicemail"
    assert ("amd_action", "converse") in [(e["kind"], e["value"]) for e in call["events"]]
    said = words(stt.transcribe(read_wav(record, 60)).text)
    assert "riverside" in said, said
    assert not {"maria", "tuesday"} & said, said


@pytest.mark.parametrize(
    ("amd", "reason"),
    [
        ({"on_machine": "message"}, "needs a voicemail_message"),
        ({"on_machine": "message", "voicemail_message": "Hi {name}"}, r"uses {name}"),
        ({"on_machine": "voicemail"}, "on_machine"),
        ({"voicemail_message": "x" * 1001}, "voicemail_message"),
    ],
)
def test_a_bad_amd_policy_is_refused_with_its_reason_and_nothing_is_queued(
    server: Server, amd: dict[str, Any], reason: str
) -> None:
    before = server.api("/outbound").json()
    refused = server.post("/calls", {"to": "sip:nobody@127.0.0.1:9", "amd": amd})
    assert refused.status_code == 422 and reason in refused.text, refused.text
    assert server.api("/outbound").json() == before
