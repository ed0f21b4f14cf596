"""`mediaserver serve` as a real process for the integration tests: its own
data dir and store, an admin API key, SIP and HTTP on free loopback ports."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

MEDIASERVER = (sys.executable, "-m", "mediaserver")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_sip_port() -> int:
    """A port free for both UDP and TCP (SIP listens on both) below Linux's
    ephemeral range (32768+), for a peer that starts later: no socket bound to
    port 0 meanwhile, such as an HTTP client's connection, can take it."""
    import random

    for port in random.sample(range(20000, 32000), 200):
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
        ):
            try:
                udp.bind(("127.0.0.1", port))
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port")


@dataclass
class Server:
    sip_port: int
    http_port: int
    log: Path
    proc: subprocess.Popen[bytes]
    data: Path
    front_desk_port: int  # where the agent transfers callers who ask for a person
    key: str  # an admin API key
    config: Path

    def post(self, path: str, json: object, token: str | None = None) -> httpx.Response:
        return httpx.post(
            f"http://127.0.0.1:{self.http_port}{path}",
            json=json,
            headers={"Authorization": f"Bearer {token or self.key}"},
            timeout=30,
        )

    def cli(self, *args: str) -> str:
        """A `mediaserver` command against this server's config (its store)."""
        return subprocess.run(
            [*MEDIASERVER, *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def api(self, path: str) -> httpx.Response:
        return httpx.get(
            f"http://127.0.0.1:{self.http_port}{path}",
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=10,
        )

    def newest_call(self, ended: bool = True, timeout: float = 20.0) -> dict[str, object]:
        """The latest call record (once ended, if asked), with its turns."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = self.api("/calls?limit=1").json()["items"]
            if items and (items[0]["ended_at"] or not ended):
                return dict(self.api(f"/calls/{items[0]['id']}").json())
            time.sleep(0.3)
        raise AssertionError("no call record")

    @property
    def uri(self) -> str:
        return f"sip:agent@127.0.0.1:{self.sip_port}"

    def mark(self) -> int:
        """Where the log ends now: wait_for(since=...) looks only past it."""
        return len(self.log.read_text(errors="replace"))

    def wait_for(self, pattern: str, timeout: float = 20.0, since: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := re.search(pattern, self.log.read_text(errors="replace")[since:]):
                return match
            time.sleep(0.2)
        raise AssertionError(f"server never logged {pattern!r}")

    def tail(self, lines: int = 40) -> str:
        """The end of the server's log, for an assertion message; after a crash,
        from the fatal error on (its first thread is the one that crashed)."""
        text = self.log.read_text(errors="replace").splitlines()
        fatal = next((i for i, line in enumerate(text) if line.startswith("Fatal Python")), None)
        if fatal is not None:
            return "\n".join(text[max(0, fatal - 10) : fatal + lines])
        return "\n".join(text[-lines:])

    def alive(self) -> bool:
        return (
            self.proc.poll() is None
            and httpx.get(f"http://127.0.0.1:{self.http_port}/healthz").status_code == 200
        )


def admin_key(config: Path) -> str:
    """A new admin API key in the store that `config` names."""
    command = [sys.executable, "-m", "mediaserver", "keys", "create", "--role", "admin"]
    return subprocess.run(
        [*command, "--config", str(config)], capture_output=True, text=True, check=True
    ).stdout.strip()


def start_server(
    tmp: Path, extra_config: str = "", sip_config: str = "", env: dict[str, str] | None = None
) -> Server:
    """`mediaserver serve` with its own data dir (and store), SIP from loopback only;
    `sip_config`: more lines for its [sip] table. "{http_port}" in extra_config
    becomes the HTTP port (e.g. in a public URL); `env`: more environment."""
    sip_port, http_port = free_sip_port(), free_port()
    extra_config = extra_config.replace("{http_port}", str(http_port))
    config = tmp / "server.toml"
    front_desk = free_sip_port()
    config.write_text(
        f'[server]\ndata_dir = "{tmp / "data"}"\n[sip]\nallow = ["127.0.0.1/32"]\n'
        f"outbound_retries = 1\noutbound_retry_seconds = 1\n{sip_config}\n"
        f'[agent]\ntransfer_target = "sip:frontdesk@127.0.0.1:{front_desk}"\n{extra_config}'
    )
    key = admin_key(config)
    log = tmp / "server.log"
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
            env={**os.environ, **(env or {})},
        )
    srv = Server(sip_port, http_port, log, proc, tmp / "data", front_desk, key, config)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).status_code == 200:
                return srv
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("server did not start")


def stop_server(srv: Server) -> None:
    srv.proc.send_signal(signal.SIGTERM)
    try:
        srv.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
