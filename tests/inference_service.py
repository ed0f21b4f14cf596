"""`mediaserver inference` as a real process for the integration tests, on a
free loopback port (or a given one, to bring it back where it was)."""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.server import MEDIASERVER, free_port


@dataclass
class Service:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metric(self, name: str) -> float:
        """A sample's value on /metrics (0 if absent)."""
        for line in httpx.get(f"{self.root}/metrics", timeout=10).text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


def start_service(tmp: Path, extra_config: str = "", port: int = 0) -> Service:
    config = tmp / "inference.toml"
    config.write_text(f'[server]\nlog_format = "text"\n{extra_config}')
    port = port or free_port()
    log = tmp / "inference.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*MEDIASERVER, "inference", "--config", str(config), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    service = Service(port, proc, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{service.root}/healthz", timeout=1).status_code == 200:
                return service
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"the inference service did not start:\n{log.read_text()}")


def stop_service(service: Service) -> None:
    if service.proc.poll() is not None:
        return
    service.proc.send_signal(signal.SIGTERM)
    try:
        service.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        service.proc.kill()
        service.proc.wait()
