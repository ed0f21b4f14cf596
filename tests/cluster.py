"""`mediaserver serve --workers N` as a real process tree for the tests:
Kamailio on the public SIP port, N pjsua2 workers, the control process.
The workers' speech port is the FIXED-ANSWER fake (MEDIASERVER_FAKE_SPEECH):
these tests are about the media plane and the edge, not the models."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server import Server, admin_key, free_port, free_sip_port

PCAPS = Path("/usr/share/sip-tester")


def start_cluster(
    tmp: Path,
    workers: int,
    extra_config: str = "",
    *,
    sip_extra: str = "",
    env: dict[str, str] | None = None,
    agent_extra: str = "",
    ready: bool = True,
) -> Server:
    """`extra_config`: more [cluster] keys; `sip_extra`: tables after [sip]
    ([[sip.trunks]]); `agent_extra`: an [agent] table; `env`: for the cluster;
    `ready`: wait for /readyz to say so (not where a check is meant to fail)."""
    sip_port, http_port = free_sip_port(), free_port()
    config = tmp / "cluster.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp / "data"}"\nlog_format = "text"\n'
        '[sip]\nallow = ["127.0.0.1/32", "127.0.0.3/32"]\n'
        f"{sip_extra}{agent_extra}"
        '[webrtc]\nhost_addresses = ["127.0.0.1"]\n'
        f"[cluster]\nworkers = {workers}\n{extra_config}"
    )
    key = admin_key(config)
    log = tmp / "cluster.log"
    env = {**os.environ, "MEDIASERVER_FAKE_SPEECH": "1", **(env or {})}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mediaserver",
                "serve",
                "--config",
                str(config),
                "--sip-port",
                str(sip_port),
                "--http-port",
                str(http_port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    srv = Server(sip_port, http_port, log, proc, tmp / "data", 0, key, config)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-5000:]
        if "cluster up:" in log.read_text(errors="replace"):
            if ready:
                wait_ready(srv)
            return srv
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("the cluster did not start")


def wait_ready(srv: Server, timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = srv.api("/readyz")
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return dict(response.json())
        time.sleep(0.3)
    raise AssertionError(f"the cluster never got ready: {srv.tail()}")


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (by the parent links in /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def worker_pid(srv: Server, worker: str, since: int = 0) -> int:
    match = srv.wait_for(rf"{worker} started \(pid (\d+)\)", since=since)
    return int(match.group(1))


def stop_cluster(srv: Server, timeout: float = 60.0) -> int:
    srv.proc.send_signal(signal.SIGTERM)
    try:
        return srv.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        raise


def sipp_scenario_via_edge(name: str, hold_ms: int = 0) -> str:
    """sipp's built-in scenario, made to follow the edge's Record-Route: the
    ACK and BYE go to the Contact with the Route set, like a carrier's;
    `hold_ms`: the call goes on that much longer before the BYE."""
    out = subprocess.run(["sipp", "-sd", name], capture_output=True, text=True, check=False).stdout
    assert "<scenario" in out, out
    out = out.replace("pcap/", f"{PCAPS}/")
    out = re.sub(
        r'<recv response="200" rtd="true"', '<recv response="200" rtd="true" rrs="true"', out
    )
    for method in ("ACK", "BYE"):
        out = out.replace(
            f"{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n",
            f"{method} [next_url] SIP/2.0\n      [routes]\n",
        )
    assert "[next_url]" in out and 'rrs="true"' in out, out
    if hold_ms:
        bye = re.search(r"  <send[^>]*>\s*<!\[CDATA\[\s*BYE ", out)
        assert bye is not None, out
        out = f'{out[: bye.start()]}  <pause milliseconds="{hold_ms}"/>\n{out[bye.start() :]}'
    return out


def sipp(
    scenario: Path, target: int, *args: str, bind: str = "127.0.0.1", timeout: float = 90
) -> subprocess.Popen[str]:
    """sipp against the edge at 127.0.0.1:`target` (not waited for)."""
    return subprocess.Popen(
        [
            "sipp",
            "-sf",
            str(scenario),
            "-i",
            bind,
            "-p",
            str(free_sip_port()),
            "-mp",
            str(free_sip_port()),
            "-nostdin",
            "-timeout",
            str(int(timeout)),
            *args,
            f"127.0.0.1:{target}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",  # sipp's screen may carry bytes that are not UTF-8
    )
