"""Phone calls against `mediaserver serve`: real pjsua2 callers and sipp on
loopback, real models answering."""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mediaserver.harness import read_wav, write_wav
from models import registry, store
from models.stt import WhisperSTT
from native import g711
from tests.server import Server, free_sip_port, start_server, stop_server
from tests.speech import speak

pytestmark = pytest.mark.integration
PCAPS = Path("/usr/share/sip-tester")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("sip"))
    yield srv
    stop_server(srv)


def caller(*args: str, timeout: float = 60) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.sip_caller", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def stt() -> WhisperSTT:
    model = WhisperSTT(store.locate(registry.by_name("whisper-tiny.en")))
    model.load()
    return model


def question_wav(tmp_path: Path, text: str) -> Path:
    """`text` spoken by espeak-ng, as a 16 kHz WAV for the pjsua2 caller's player."""
    speak(text, tmp_path / "spoken.wav")
    path = tmp_path / "question16k.wav"
    write_wav(path, read_wav(tmp_path / "spoken.wav", 60))
    return path


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def test_a_caller_hears_the_greeting_and_an_answer(
    server: Server, stt: WhisperSTT, tmp_path: Path
) -> None:
    since = server.mark()
    question = question_wav(tmp_path, "What time do you open on Saturday?")
    # 24 s: room for a slow first answer (the server's first call, on a busy machine)
    result = caller(
        "--to",
        server.uri,
        "--play",
        str(question),
        "--play-at",
        "5.5",
        "--record",
        str(tmp_path / "heard.wav"),
        "--seconds",
        "24",
    )
    assert result["connected"]
    heard = stt.transcribe(read_wav(tmp_path / "heard.wav", 60)).text
    assert "riverside" in heard.lower(), heard
    assert {"saturday"} & words(heard) or {"9", "nine"} & words(heard), heard
    server.wait_for(r"Transcript\(text='[^']*[Ss]aturday", since=since)
    # the call was recorded: caller left, agent right, in step
    match = server.wait_for(r"recording to (\S+\.wav)", since=since)
    server.wait_for(r"call \S+ media:", since=since)
    with wave.open(match.group(1), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 16000, 2)
        stereo = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    caller_side = stt.transcribe(stereo[:, 0].copy()).text
    agent_side = stt.transcribe(stereo[:, 1].copy()).text
    assert {"open", "saturday"} <= words(caller_side), caller_side
    assert "riverside" in agent_side.lower(), agent_side
    loud = np.flatnonzero(np.abs(stereo[:, 0]) > 2000)
    assert abs(loud[0] / 16000 - 5.5) < 1.0  # the question where the caller played it
    # and the call record holds the transcript, the latency and the recording
    record = server.newest_call()
    assert record["direction"] == "inbound" and record["end_reason"] == "caller_hangup"
    assert record["recording_path"] == match.group(1)
    turns = record["turns"]
    assert isinstance(turns, list)
    assert turns[0]["speaker"] == "agent" and "Riverside" in turns[0]["text"]  # the greeting
    asked = [t for t in turns if t["speaker"] == "caller"]
    assert asked and "saturday" in asked[0]["text"].lower()
    assert abs(asked[0]["start_s"] - 5.5) < 1.0
    answers = [t for t in turns if t["speaker"] == "agent" and t["timings_ms"]]
    assert answers and answers[0]["timings_ms"]["first_audio_out"] > 0
    wav = server.api(f"/calls/{record['id']}/recording")
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"


def test_sipp_with_g711a_rtp_and_rfc2833_dtmf(server: Server, tmp_path: Path) -> None:
    since = server.mark()
    scenario = sipp_scenario("uac_pcap")
    (tmp_path / "uac_pcap.xml").write_text(scenario.replace("pcap/", f"{PCAPS}/"))
    proc = subprocess.run(
        [
            "sipp",
            "-sf",
            str(tmp_path / "uac_pcap.xml"),
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_sip_port()),
            "-mp",
            str(free_sip_port()),
            "-nostdin",
            "-timeout",
            "40",
            f"127.0.0.1:{server.sip_port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    server.wait_for(r"Dtmf\(digit='1'\)", since=since)
    match = server.wait_for(
        r"call \S+ media: received ([\d.]+) s, sound ([\d.]+) s, speech ([\d.]+)", since=since
    )
    received, sound, speech_s = (float(g) for g in match.groups())
    expected = pcap_sound_seconds(PCAPS / "g711a.pcap")
    assert received >= 8.0
    assert abs(sound - expected) <= 0.5, (sound, expected)
    assert speech_s >= 0.5 * expected
    # PJSIP's clock and RTP threads were put on SCHED_RR (sip.media_realtime, 10) once
    # media ran; without CAP_SYS_NICE they keep their priority
    policies = thread_policies(server.proc.pid)
    assert {"clock", "media"} <= policies.keys(), policies
    expected = {(os.SCHED_RR, 10)} if realtime_allowed() else {(os.SCHED_OTHER, 0)}
    assert policies["clock"] == policies["media"] == expected, policies
    assert policies["python"] == {(os.SCHED_OTHER, 0)}, policies  # the rest as it was


def realtime_allowed() -> bool:
    """Whether a thread of this machine's processes may have SCHED_RR (root with
    CAP_SYS_NICE, and a real-time budget where the kernel keeps one per cgroup)."""
    allowed: list[bool] = []

    def probe() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))
            allowed.append(True)
        except PermissionError:
            allowed.append(False)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return allowed[0]


def thread_policies(pid: int) -> dict[str, set[tuple[int, int]]]:
    """Each thread name of a process, with its threads' scheduling policies and priorities."""
    found: dict[str, set[tuple[int, int]]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        name = (task / "comm").read_text().strip()
        tid = int(task.name)
        policy = (os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority)
        found.setdefault(name, set()).add(policy)
    return found


def sipp_scenario(name: str) -> str:
    """One of sipp's built-in scenarios (`sipp -sd` prints it, and exits 99)."""
    out = subprocess.run(["sipp", "-sd", name], capture_output=True, text=True, check=False).stdout
    assert "<scenario" in out, out
    return out


def pcap_sound_seconds(path: Path) -> float:
    """Non-silent seconds of the A-law RTP in a pcap (Ethernet/IPv4/UDP)."""
    data = path.read_bytes()
    dec = g711.decoder("alaw", 1024)
    frames = []
    offset = 24
    while offset + 16 <= len(data):
        length = struct.unpack_from("<I", data, offset + 8)[0]
        packet = data[offset + 16 : offset + 16 + length]
        offset += 16 + length
        ihl = (packet[14] & 0x0F) * 4
        rtp = packet[14 + ihl + 8 :]
        if len(rtp) > 12 and rtp[1] & 0x7F == 8:
            frames.append(dec.decode(rtp[12:]).copy())
    audio = np.concatenate(frames).astype(np.float64)
    tiles = audio[: audio.size // 160 * 160].reshape(-1, 160)  # 20 ms (the packets are 30 ms)
    levels = 20 * np.log10(np.sqrt((tiles**2).mean(axis=1)) / 32768 + 1e-9)
    return float(np.count_nonzero(levels > -45)) * 0.02


def test_four_calls_hold_and_a_fifth_is_refused_at_once(server: Server, tmp_path: Path) -> None:
    holders = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.sip_caller", "--to", server.uri, "--seconds", "12"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    time.sleep(6)
    start = time.monotonic()
    fifth = caller("--to", server.uri, "--seconds", "5")
    assert not fifth["connected"]
    assert fifth["status"] in (486, 503)
    assert time.monotonic() - start < 4.5
    results = [json.loads(p.communicate(timeout=30)[0].strip().splitlines()[-1]) for p in holders]
    assert all(r["connected"] for r in results)


def test_an_invite_from_outside_the_trunks_gets_403(server: Server) -> None:
    result = caller("--to", server.uri, "--bind", "127.0.0.2", "--seconds", "4")
    assert not result["connected"] and result["status"] == 403


def test_an_offer_with_only_unsupported_codecs_gets_488(server: Server) -> None:
    result = caller("--to", server.uri, "--codec", "speex/8000", "--seconds", "4")
    assert not result["connected"] and result["status"] == 488


def test_garbage_sip_and_a_burst_of_invites_do_not_hurt_the_server(
    server: Server, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for junk in (
            b"\x00\xff" * 100,
            b"INVITE sip:x SIP/2.0\r\n\r\n",
            b"SIP/2.0 200 OK\r\nVia: ?\r\n\r\n",
            b"OPTIONS sip:agent@127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n\r\n" + b"a" * 2000,
        ):
            s.sendto(junk, ("127.0.0.1", server.sip_port))
    scenario = tmp_path / "burst.xml"
    scenario.write_text(sipp_scenario("uac"))
    subprocess.run(
        [
            "sipp",
            "-sf",
            str(scenario),
            "-m",
            "20",
            "-r",
            "20",
            "-l",
            "20",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_sip_port()),
            "-nostdin",
            "-timeout",
            "20",
            f"127.0.0.1:{server.sip_port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    time.sleep(2)
    assert server.alive(), server.tail()
    result = caller("--to", server.uri, "--seconds", "3")
    assert result["connected"]


def listening_callee(*args: str) -> tuple[subprocess.Popen[str], int]:
    """A pjsua2 callee on a free port (tests/sip_caller.py --listen 0 ARGS), and that port."""
    callee = subprocess.Popen(
        [sys.executable, "-m", "tests.sip_caller", "--listen", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    return callee, wait_listening(callee)


def wait_listening(callee: subprocess.Popen[str]) -> int:
    """Read the callee's output (pjlib logs first) up to "listening PORT"; the port."""
    assert callee.stdout is not None
    for _ in range(50):
        line = callee.stdout.readline().strip()
        if line.startswith("listening "):
            return int(line.split()[1])
    raise AssertionError("the callee never said it was listening")


def test_an_outbound_call_is_answered_and_the_agent_speaks(stt: WhisperSTT, tmp_path: Path) -> None:
    callee, port = listening_callee("--record", str(tmp_path / "callee.wav"), "--seconds", "10")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mediaserver",
            "call",
            f"sip:callee@127.0.0.1:{port}",
            "--ring-seconds",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    callee.communicate(timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "answered" in out.stdout
    heard = stt.transcribe(read_wav(tmp_path / "callee.wav", 60)).text
    assert "riverside" in heard.lower(), heard


@pytest.mark.parametrize(("code", "outcome"), [(486, "busy"), (603, "rejected")])
def test_an_outbound_call_reports_busy_and_rejected_with_the_sip_code(
    code: int, outcome: str
) -> None:
    callee, port = listening_callee("--respond", str(code), "--seconds", "8")
    out = subprocess.run(
        [sys.executable, "-m", "mediaserver", "call", f"sip:callee@127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    callee_said = callee.communicate(timeout=30)[0]
    assert out.returncode == 1, callee_said
    assert f"{outcome} ({code}" in out.stdout, callee_said[-3000:]


@pytest.mark.parametrize(
    ("target", "message"),
    [("5551234", "set [sip] trunk_host"), ("not a number", "set [sip] trunk_host")],
)
def test_an_outbound_target_that_cannot_be_called_is_a_clear_error(
    target: str, message: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mediaserver", "call", target],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert message in out.stderr


def ask_for_a_person(
    server: Server, tmp_path: Path, desk_answers: int
) -> tuple[int, dict[str, object]]:
    """A caller asks for a person; the front desk answers with `desk_answers`.
    Returns (log mark before the call, the desk's result)."""
    since = server.mark()
    desk = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sip_caller",
            "--listen",
            str(server.front_desk_port),
            "--respond",
            str(desk_answers),
            "--seconds",
            "25",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(desk)
        question = question_wav(tmp_path, "I would like to talk to a real person.")
        result = caller(
            "--to",
            server.uri,
            "--play",
            str(question),
            "--play-at",
            "5.5",
            "--seconds",
            "30",
        )
        assert result["connected"]
        desk_result = json.loads(desk.communicate(timeout=40)[0].strip().splitlines()[-1])
    finally:  # the next test's desk needs the port
        desk.kill()
        desk.wait()
    return since, desk_result


def test_a_caller_asking_for_a_person_is_transferred(server: Server, tmp_path: Path) -> None:
    since, desk = ask_for_a_person(server, tmp_path, desk_answers=200)
    server.wait_for(r"Transfer\(target='sip:frontdesk", since=since)
    server.wait_for(r"call \d+ transferred", since=since)
    assert desk["connected"], "the front desk never got the call"


def test_a_failed_transfer_is_explained_and_the_call_ends_politely(
    server: Server, tmp_path: Path
) -> None:
    since, _ = ask_for_a_person(server, tmp_path, desk_answers=486)
    server.wait_for(r"transfer failed \(486\)", since=since)
    server.wait_for(r"Hangup\(reason='transfer_failed'\)", since=since)


def test_a_server_killed_mid_call_keeps_the_turns_and_marks_the_call_unclean(
    tmp_path: Path, store_url: str
) -> None:
    """On SQLite and on PostgreSQL (the store_url fixture)."""
    from mediaserver.store import Store

    uses_store = f'[api]\nstore_url = "{store_url}"\n'
    srv = start_server(tmp_path, uses_store)
    question = question_wav(tmp_path, "What time do you open on Saturday?")
    phone = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sip_caller",
            "--to",
            srv.uri,
            "--play",
            str(question),
            "--play-at",
            "5.5",
            "--seconds",
            "40",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = Store(store_url)
    try:
        call = srv.newest_call(ended=False)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:  # the greeting and the question, written live
            record = store.get_call(str(call["id"]))
            assert record is not None
            if len(record["turns"]) >= 3:
                break
            time.sleep(0.2)
        srv.proc.kill()  # SIGKILL: no clean-up of any kind
        srv.proc.wait(10)
    finally:
        phone.kill()
        phone.wait(10)
    record = store.get_call(str(call["id"]))
    assert record is not None and record["ended_at"] is None
    speakers = [t["speaker"] for t in record["turns"]]
    assert speakers[:3] == ["agent", "caller", "agent"], record["turns"]
    restarted = start_server(tmp_path, uses_store)
    try:
        after = restarted.api(f"/calls/{call['id']}").json()
        assert after["end_reason"] == "unclean" and after["ended_at"]
        assert [t["text"] for t in after["turns"]][:3] == [t["text"] for t in record["turns"][:3]]
    finally:
        stop_server(restarted)


def test_an_api_call_to_a_busy_number_is_retried_and_every_attempt_recorded(
    server: Server,
) -> None:
    callee, port = listening_callee("--respond", "486", "--seconds", "10")
    to = f"sip:callee@127.0.0.1:{port}"
    placed = server.post("/calls", {"to": to, "agent": "default", "caller_id": "+14155550199"})
    assert placed.status_code == 202, placed.text
    job = placed.json()
    assert job["caller_id"] == "+14155550199"
    deadline = time.monotonic() + 40
    while job["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.5)
        job = server.api(f"/outbound/{job['id']}").json()
    assert job["state"] == "done" and job["outcome"] == "busy" and job["sip_code"] == 486
    assert job["attempts"] == 2 and len(job["call_ids"]) == 2  # one retry ([sip] outbound_retries)
    for call_id in job["call_ids"]:
        record = server.api(f"/calls/{call_id}").json()
        assert (record["direction"], record["end_reason"], record["sip_code"]) == (
            "outbound",
            "busy",
            486,
        )
    said = json.loads(callee.communicate(timeout=30)[0].strip().splitlines()[-1])
    assert said["invites"] == 2
    # the caller ID is each INVITE's From, a number at the server's own SIP address
    assert said["froms"] == [f"sip:+14155550199@127.0.0.1:{server.sip_port}"] * 2, said
    bad = server.post("/calls", {"to": "not a number"})
    assert bad.status_code == 422 and "neither a number" in bad.json()["detail"]
    for caller_id in ("Sales", "+1 415 555", "sip:a@b>;x", "sip:a@b\r\nX: y"):
        wrong = server.post("/calls", {"to": to, "caller_id": caller_id})
        assert wrong.status_code == 422 and "caller_id" in wrong.text, wrong.text
    viewer = server.cli("keys", "create", "--role", "viewer")
    assert server.post("/calls", {"to": "sip:x@127.0.0.1"}, token=viewer).status_code == 403


def test_a_call_over_tcp_is_answered(server: Server, stt: WhisperSTT, tmp_path: Path) -> None:
    result = caller(
        "--to",
        f"{server.uri};transport=tcp",
        "--record",
        str(tmp_path / "heard.wav"),
        "--seconds",
        "7",
    )
    assert result["connected"]
    heard = stt.transcribe(read_wav(tmp_path / "heard.wav", 60)).text
    assert "riverside" in heard.lower(), heard


def test_through_loss_and_jitter_the_call_survives_and_the_question_is_understood(
    server: Server, tmp_path: Path
) -> None:
    """5% of the caller's RTP lost, 40 +- 20 ms of jitter (a userspace relay)."""
    from tests.relay import Impairment, Running, SipRelay

    since = server.mark()
    running = Running()
    relay = running.run(
        SipRelay.start(
            ("127.0.0.1", server.sip_port), Impairment(loss=0.05, delay_ms=40, jitter_ms=20)
        )
    )
    try:
        question = question_wav(tmp_path, "What time do you open on Saturday?")
        result = caller(
            "--to",
            f"sip:agent@127.0.0.1:{relay.port}",
            "--play",
            str(question),
            "--play-at",
            "5.5",
            "--seconds",
            "16",
        )
    finally:
        media = relay.media
        running.loop.call_soon_threadsafe(relay.close)
        running.stop()
    assert result["connected"]
    # the caller sends only while it speaks (PJSIP suppresses silence): ~3.5 s of it
    assert media is not None and media.dropped >= 3 and media.forwarded >= 100
    record = server.newest_call()
    said = " ".join(t["text"] for t in record["turns"] if t["speaker"] == "caller")  # type: ignore[union-attr]
    # what the server made of the line, should the question be misheard
    stats = server.wait_for(r"call \S+ media: .*\n.*pacing: .*", since=since).group(0)
    assert "saturday" in said.lower(), (said, stats, media)


def test_an_ivr_menu_picks_the_language_and_numbers_route_to_agents(
    stt: WhisperSTT, tmp_path: Path
) -> None:
    menu = (
        '[[sip.routes]]\nnumber = "4420"\nagent = "sales"\n'
        '[[agent.menu]]\ndigit = "1"\nlanguage = "en"\nlabel = "English"\n'
        'greeting = "Hello, Riverside Dental, how can I help?"\n'
        '[[agent.menu]]\ndigit = "2"\nlanguage = "es"\nlabel = "Spanish"\n'
        'greeting = "Welcome to the Spanish line of Riverside Dental."\n'
    )
    srv = start_server(tmp_path, menu)
    try:
        result = caller(
            "--to",
            srv.uri,
            "--dtmf",
            "2",
            "--play-at",
            "5",
            "--record",
            str(tmp_path / "heard.wav"),
            "--seconds",
            "11",
        )
        assert result["connected"]
        heard = stt.transcribe(read_wav(tmp_path / "heard.wav", 60)).text.lower()
        assert "press" in heard and "spanish line" in heard, heard
        record = srv.newest_call()
        events = [(e["kind"], e["value"]) for e in record["events"]]  # type: ignore[union-attr]
        assert ("menu", "2 es") in events, events
        # a called number routed to an agent from the store, at its current version
        # ... on the models it names (loaded on its first call, beside the server's)
        sales = {
            "name": "sales",
            "greeting": "Sales desk, Sam speaking.",
            "llm_model": "smollm2-135m-instruct",
        }
        made = srv.post("/agents", sales)
        assert made.status_code == 201, made.text
        # the first call loads a second model set before it greets: give it time
        result = caller("--to", f"sip:4420@127.0.0.1:{srv.sip_port}", "--seconds", "16")
        assert result["connected"]
        record = srv.newest_call()
        assert (record["agent"], record["agent_version"]) == ("sales", 1)
        assert record["turns"] and record["turns"][0]["text"] == "Sales desk, Sam speaking."  # type: ignore[index]
        srv.wait_for(r"agent sales: loading models whisper-tiny.en, smollm2-135m-instruct")
    finally:
        stop_server(srv)
