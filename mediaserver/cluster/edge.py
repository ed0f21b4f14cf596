"""Kamailio, the SIP edge, as a supervised process: started in its own
process group on the generated config, ready once it answers an OPTIONS,
stopped with its children (SIGTERM to the group, then SIGKILL)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import uuid
from pathlib import Path

from mediaserver.cluster.child import die_with_parent
from mediaserver.cluster.kamailio_cfg import EdgeError, EdgeFiles

log = logging.getLogger(__name__)


def options(host: str, port: int, timeout: float = 0.5) -> bool:
    """Does a SIP server answer an OPTIONS at host:port (UDP)?"""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((target, 0))
        s.settimeout(timeout)
        me = s.getsockname()
        branch = uuid.uuid4().hex
        s.sendto(
            (
                f"OPTIONS sip:{target}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {me[0]}:{me[1]};branch=z9hG4bK{branch}\r\n"
                "Max-Forwards: 5\r\n"
                f"From: <sip:probe@{me[0]}>;tag={branch[:8]}\r\n"
                f"To: <sip:{target}:{port}>\r\n"
                f"Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
            (target, port),
        )
        try:
            return s.recv(4096).startswith(b"SIP/2.0 200")
        except OSError:
            return False


class Edge:
    def __init__(self, files: EdgeFiles, host: str, port: int) -> None:
        self.files = files
        self.host, self.port = host, port
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, within: float = 15.0) -> None:
        self.proc = self._spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if self.proc.poll() is not None:
                raise EdgeError(f"kamailio exited ({self.proc.returncode}); see its log above")
            if await loop.run_in_executor(None, options, self.host, self.port):
                log.info("edge: Kamailio on %s:%d (pid %d)", self.host, self.port, self.proc.pid)
                return
        await self.stop()
        raise EdgeError(f"kamailio did not answer on {self.host}:{self.port} in {within:.0f} s")

    def _spawn(self) -> subprocess.Popen[bytes]:
        run = self.files.directory / "run"
        run.mkdir(exist_ok=True)
        kamailio = shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin:/sbin")
        if kamailio is None:
            raise EdgeError("kamailio is not installed (Debian package kamailio)")
        return subprocess.Popen(  # noqa: S603 (our own config)
            [
                kamailio,
                "-f",
                str(self.files.config),
                "-DD",
                "-E",
                "-m",
                "64",
                "-M",
                "8",
                "-Y",
                str(run),
            ],
            start_new_session=True,  # its own group: stopped with all its children
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),  # noqa: PLW1509
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def wait(self) -> int:
        proc = self.proc
        if proc is None:
            return 0
        return await asyncio.get_running_loop().run_in_executor(None, proc.wait)

    async def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                await asyncio.get_running_loop().run_in_executor(None, proc.wait, wait)
                if sig == signal.SIGTERM:
                    # the group's children may still be going down
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None


def edge_dir(data_dir: str) -> Path:
    return Path(data_dir).resolve() / "edge"
