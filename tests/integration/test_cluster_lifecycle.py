"""The cluster's whole life: it starts, drains on SIGTERM (the call in
progress finishes, a new one is refused), stops, and leaves no process
behind (Kamailio's children included). Fixed-answer speech, as in
test_cluster.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mediaserver.harness import read_wav, write_wav
from mediaserver.store import CallFilter, Store
from tests.cluster import alive, descendants, start_cluster, stop_cluster, worker_pid
from tests.kamailio import kamailio
from tests.server import free_port, free_sip_port
from tests.speech import speak

pytestmark = pytest.mark.integration


def test_sigterm_drains_then_stops_everything(tmp_path: Path) -> None:
    srv = start_cluster(tmp_path, 2, "drain_seconds = 30\n")
    family = {pid: Path(f"/proc/{pid}/cmdline").read_text() for pid in descendants(srv.proc.pid)}
    try:
        assert any(c.split("\x00")[0].endswith("kamailio") for c in family.values()), family
        assert len(family) >= 4  # two workers, the control process, Kamailio (and its children)
        holder = subprocess.Popen(
            [sys.executable, "-m", "tests.sip_caller", "--to", srv.uri, "--seconds", "9"],
            stdout=subprocess.PIPE,
            text=True,
        )
        srv.wait_for(r"call \S+ recording to", timeout=30)
        since = srv.mark()
        srv.proc.send_signal(signal.SIGTERM)
        srv.wait_for(r"draining: waiting up to 30 s", since=since)
        time.sleep(1)
        refused = subprocess.run(
            [sys.executable, "-m", "tests.sip_caller", "--to", srv.uri, "--seconds", "3"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        status = json.loads(refused.stdout.strip().splitlines()[-1])
        assert not status["connected"] and status["status"] == 503, status
        # the first draining worker's 503 sent the INVITE on to the next one (failover)
        srv.wait_for(r"INVITE \S+: 503 from sip:\S+", since=since)
        srv.wait_for(r"INVITE \S+: next worker sip:\S+", since=since)
        held = json.loads(holder.communicate(timeout=60)[0].strip().splitlines()[-1])
        assert held["connected"]
        assert srv.proc.wait(timeout=60) == 0, srv.tail()
    finally:
        if srv.proc.poll() is None:
            stop_cluster(srv)
    left = [family[pid] for pid in family if alive(pid)]
    assert not left, left
    store = Store(f"sqlite:///{srv.data.resolve()}/mediaserver.db")
    try:
        calls = store.list_calls(CallFilter())[1]
    finally:
        store.close()
    [call] = [c for c in calls if c["answered_at"]]
    assert call["end_reason"] == "caller_hangup", call  # finished, not cut by the shutdown


def test_sigterm_to_a_worker_refusing_a_stream_of_calls_drains_it_and_it_exits_cleanly(
    tmp_path: Path,
) -> None:
    """SIGTERM to one worker (systemd's stop reaches every process; or a
    recycle) drains it: its call finishes while a stream of INVITEs straight
    at it gets 503, then it exits 0 and is restarted. PJSIP opens RTP and RTCP
    for every INVITE, refused or not: polled without the socket budget on the
    way out, such a stream aborted the worker (pj_ioqueue_register_sock2's
    assertion); and uvicorn's SIGTERM handler killed it at once, mid-call."""
    srv = start_cluster(tmp_path, 1, "drain_seconds = 30\n")
    try:
        pid = worker_pid(srv, "w1")
        port = int(srv.wait_for(r"worker w1: SIP [\d.]+:(\d+)").group(1))
        holder = subprocess.Popen(
            [sys.executable, "-m", "tests.sip_caller", "--to", srv.uri, "--seconds", "6"],
            stdout=subprocess.PIPE,
            text=True,
        )
        srv.wait_for(r"call \S+ recording to", timeout=30)
        since = srv.mark()
        os.kill(pid, signal.SIGTERM)
        srv.wait_for(r"w1/mediaserver\.cluster\.child: SIGTERM: draining", since=since)
        stream = subprocess.Popen(  # 40 INVITEs a second for 10 s, each refused
            [
                *("sipp", "-sn", "uac", "-r", "40", "-m", "400", "-i", "127.0.0.1", "-nostdin"),
                *("-timeout", "30", f"127.0.0.1:{port}"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp_path,
        )
        try:
            held = json.loads(holder.communicate(timeout=60)[0].strip().splitlines()[-1])
            assert held["connected"], held
            srv.wait_for(r"w1 exited \(0\): restarting", since=since, timeout=60)
            assert stream.poll() is None  # the stream went on past the worker's exit
        finally:
            stream.kill()
            stream.wait()
        worker_pid(srv, "w1", since)  # the supervisor started a fresh one
    finally:
        stop_cluster(srv)
    log = srv.log.read_text(errors="replace")
    assert "w1/mediaserver.transports.sip: INVITE from 127.0.0.1" in log
    assert "refused: draining" in log
    assert "Assertion" not in log and "exited (-" not in log, srv.tail()
    store = Store(f"sqlite:///{srv.data.resolve()}/mediaserver.db")
    try:
        [call] = [c for c in store.list_calls(CallFilter())[1] if c["answered_at"]]
    finally:
        store.close()
    assert call["end_reason"] == "caller_hangup", call  # finished, not cut by the SIGTERM


def test_a_registration_trunk_registers_once_at_the_edge_and_takes_a_call(
    tmp_path: Path,
) -> None:
    """GET /trunks and /readyz tell the edge's registrations (Kamailio's, over
    JSON-RPC): one accepted, one refused with 403."""
    port = free_sip_port()
    trunk = (
        f'[[sip.trunks]]\nname = "carrier"\nregistrar = "sip:127.0.0.1:{port}"\n'
        'username = "alice"\npassword = "s3cret"\n'
        f'[[sip.trunks]]\nname = "blocked"\nregistrar = "sip:127.0.0.1:{port}"\n'
        'username = "mallory"\npassword = "s3cret"\n'
    )
    (tmp_path / "registrar").mkdir()
    with kamailio(tmp_path / "registrar", port, "s3cret", refuse=("mallory",)) as registrar_log:
        # [[sip.trunks]] belongs to [sip]: the cluster's own section goes after it
        srv = start_cluster(tmp_path, 2, sip_extra=trunk, ready=False)
        try:
            deadline = time.monotonic() + 30
            while "REGISTER alice: accepted" not in registrar_log.read_text(errors="replace"):
                assert time.monotonic() < deadline, registrar_log.read_text()[-3000:]
                time.sleep(0.3)
            while True:  # the control process asks the edge every few seconds
                trunks = {t["name"]: t for t in srv.api("/trunks").json()}
                if trunks["carrier"]["registered"] and trunks["blocked"]["code"]:
                    break
                assert time.monotonic() < deadline, (trunks, srv.tail())
                time.sleep(0.3)
            carrier, blocked = trunks["carrier"], trunks["blocked"]
            assert (carrier["code"], carrier["reason"]) == (200, "OK"), carrier
            assert carrier["expires"] > 0 and carrier["at"] > 0, carrier
            assert not blocked["registered"], blocked
            assert (blocked["code"], blocked["reason"]) == (403, "Forbidden"), blocked
            ready = srv.api("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"] == {
                "workers": True,
                "trunk carrier": True,
                "trunk blocked": False,
            }
            since = srv.mark()
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.sip_caller",
                    "--to",
                    f"sip:alice@127.0.0.1:{port}",
                    "--seconds",
                    "4",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            assert result["connected"], (result, srv.tail())
            srv.wait_for(r"INVITE via trunk carrier", since=since)
            srv.wait_for(r"w\d/mediaserver\.calls: call \S+ \(sip \d\) .* answered", since=since)
        finally:
            stop_cluster(srv)
        # one registration for the whole cluster, not one per worker
        assert registrar_log.read_text(errors="replace").count("REGISTER alice: accepted") == 1


def test_a_refer_transfer_goes_through_the_edge(tmp_path: Path) -> None:
    """The caller asks for a person (the fake hears it): the worker's REFER
    reaches the caller through the edge's record-route, and the caller
    calls the front desk."""
    desk_port = free_sip_port()
    srv = start_cluster(
        tmp_path,
        1,
        agent_extra=f'[agent]\ntransfer_target = "sip:frontdesk@127.0.0.1:{desk_port}"\n',
        env={"MEDIASERVER_FAKE_SPEECH_HEARD": "I want to talk to a real person"},
    )
    desk = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sip_caller",
            "--listen",
            str(desk_port),
            "--respond",
            "200",
            "--seconds",
            "20",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        since = srv.mark()
        speak("I would like to talk to a real person.", tmp_path / "ask.wav")
        write_wav(tmp_path / "ask16k.wav", read_wav(tmp_path / "ask.wav", 60))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.sip_caller",
                "--to",
                srv.uri,
                "--play",
                str(tmp_path / "ask16k.wav"),
                "--play-at",
                "4",
                "--seconds",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        )
        assert json.loads(result.stdout.strip().splitlines()[-1])["connected"]
        srv.wait_for(r"Transfer\(target='sip:frontdesk", since=since)
        srv.wait_for(r"call \d+ transferred", since=since)
        desk_result = json.loads(desk.communicate(timeout=40)[0].strip().splitlines()[-1])
        assert desk_result["connected"], "the front desk never got the call"
    finally:
        desk.kill()
        desk.wait()
        stop_cluster(srv)


def test_a_taken_sip_port_stops_the_cluster_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        config = tmp_path / "c.toml"
        config.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n[cluster]\nworkers = 1\n')
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mediaserver",
                "serve",
                "--config",
                str(config),
                "--sip-port",
                str(port),
                "--http-port",
                str(free_port()),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "MEDIASERVER_FAKE_SPEECH": "1"},
        )
        family: dict[int, str] = {}
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            family |= {p: "" for p in descendants(proc.pid)}
            time.sleep(0.2)
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 1, out[-3000:]
    assert "mediaserver: kamailio exited" in out, out[-3000:]
    assert not [p for p in family if alive(p)]
