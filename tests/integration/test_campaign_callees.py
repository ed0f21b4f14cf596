"""A campaign of 20 leads against pjsua2 callees on loopback
(tests/sip_callees.py) that answer as a person ("hello?"), are busy (486),
never answer, reject (603), or answer with a voicemail greeting and a beep:
every lead ends in its state after its retries, and on each voicemail the
agent's message starts after the beep (in what the callee recorded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediaserver.harness import read_wav, write_wav
from tests.integration.test_amd import GREETING, first_sound_s
from tests.integration.test_campaigns import (
    callees,
    callees_report,
    campaign_spec,
    leads_by_phone,
    upload,
    wait_state,
)
from tests.server import start_server, stop_server
from tests.speech import speak

pytestmark = pytest.mark.integration
RATE = 16000
KINDS = ("person", "busy", "no_answer", "rejected", "voicemail")
PER_KIND = 4  # 20 leads, 4 calls at once (the SIP cap of one server)
MESSAGE = "Hello {name}, your cleaning is confirmed for Tuesday at nine. Goodbye."
# the lead's final state and how many attempts it took (max_attempts 2)
EXPECTED = {
    "person": ("answered", 1),
    "busy": ("busy", 2),
    "no_answer": ("no_answer", 2),
    "rejected": ("rejected", 1),
    "voicemail": ("voicemail", 1),  # the message left: not called again
}


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


def voicemail_wav(tmp_path: Path) -> tuple[Path, float]:
    """The greeting, a 1 kHz beep, then silence; and when the beep ends (s)."""
    speak(GREETING, tmp_path / "greeting.wav")
    greeting = read_wav(tmp_path / "greeting.wav", 60)
    t = np.arange(int(0.5 * RATE)) / RATE
    beep = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    before_beep = np.concatenate([silence(0.3), greeting, silence(0.6), beep])
    path = tmp_path / "voicemail.wav"
    write_wav(path, np.concatenate([before_beep, silence(20)]))
    return path, before_beep.size / RATE


def hello_wav(tmp_path: Path) -> Path:
    speak("Hello?", tmp_path / "said.wav")
    path = tmp_path / "hello.wav"
    write_wav(
        path, np.concatenate([silence(0.5), read_wav(tmp_path / "said.wav", 10), silence(10)])
    )
    return path


def test_twenty_leads_end_in_their_states_and_voicemails_hear_the_message_after_the_beep(
    tmp_path: Path,
) -> None:
    voicemail, beep_end = voicemail_wav(tmp_path)
    hello = hello_wav(tmp_path)
    phones = {
        kind: [f"+1415555{300 + 10 * k + n:04d}" for n in range(PER_KIND)]
        for k, kind in enumerate(KINDS)
    }
    heard = {phone: tmp_path / f"heard-{phone[1:]}.wav" for phone in phones["voicemail"]}
    script: dict[str, object] = {}
    for phone in phones["person"]:
        script[phone] = {"play": str(hello), "hold": 8}
    for phone in phones["busy"]:
        script[phone] = 486
    for phone in phones["no_answer"]:
        script[phone] = "ring"
    for phone in phones["rejected"]:
        script[phone] = 603
    for phone in phones["voicemail"]:  # the agent hangs up after its message
        script[phone] = {"play": str(voicemail), "record": str(heard[phone]), "hold": 45}
    proc, port = callees(script)
    server = start_server(tmp_path, sip_config=f'trunk_host = "127.0.0.1:{port}"')
    try:
        spec = campaign_spec(
            max_concurrent=PER_KIND,
            voicemail="leave_message",
            voicemail_message=MESSAGE,
        )
        created = server.post("/campaigns", spec)
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        # the kinds interleaved, so that every kind is called while the others are
        rows = [f"{phones[kind][n]},Lead {kind} {n}" for n in range(PER_KIND) for kind in KINDS]
        imported = upload(
            server, f"/campaigns/{campaign_id}/leads", ("phone,name\n" + "\n".join(rows)).encode()
        )
        assert imported.json()["imported"] == len(rows), imported.text
        assert server.post(f"/campaigns/{campaign_id}/start", {}).json()["state"] == "running"
        finished = wait_state(server, campaign_id, "finished", 240)
        leads = leads_by_phone(server, campaign_id)
        ended = {phone: (lead["state"], lead["attempts"]) for phone, lead in leads.items()}
        assert ended == {phone: EXPECTED[kind] for kind in KINDS for phone in phones[kind]}, (
            server.tail()
        )
        assert finished["leads"] == {state: PER_KIND for state, _ in EXPECTED.values()}
        for phone in phones["voicemail"]:
            call = server.api(f"/calls/{leads[phone]['call_id']}").json()
            assert (call["amd"], call["amd_beep"], call["end_reason"]) == (
                "machine",
                True,
                "voicemail",
            ), call
        for phone in phones["person"]:
            call = server.api(f"/calls/{leads[phone]['call_id']}").json()
            assert call["amd"] == "human", call
    finally:
        stop_server(server)
    said = callees_report(proc)  # the recordings are complete once it has stopped
    invites = {phone: EXPECTED[kind][1] for kind in KINDS for phone in phones[kind]}
    assert said["invites"] == invites, said
    assert set(said["most_at_once"].values()) == {1}  # no lead dialled twice at once
    assert said["most_calls"] <= PER_KIND  # max_concurrent
    for phone, path in heard.items():
        pcm = read_wav(path, 120)
        onset = first_sound_s(pcm)
        assert onset is not None, f"{phone}: the voicemail heard nothing"
        assert onset >= beep_end, (phone, onset, beep_end)  # nothing said over the greeting
