"""One supervised child process, seen from the supervisor: spawned, an
initialize handshake with a timeout, ping/pong liveness (a child silent for
`ping_timeout` is killed), a graceful shutdown, then a kill."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from mediaserver.cluster import proto

log = logging.getLogger(__name__)

_SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: no pjsua2 or loop inherited


class ChildError(RuntimeError):
    """The child did not start (its reason), or stopped answering."""


class SupervisedProcess:
    def __init__(
        self,
        name: str,
        init: proto.Initialize,
        *,
        ready_timeout: float = 180.0,
        ping_interval: float = 1.0,
        ping_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.init = init
        self.ready_timeout = ready_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.calls = 0  # as of the last Pong
        self.counted_at = 0.0  # when the Ping of that Pong was sent (time.monotonic())
        self.pid = 0
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._last_pong = 0.0

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    async def start(self) -> None:
        """Spawn the child and wait for its Ready (ChildError: Failed, exit or timeout)."""
        from mediaserver.cluster.child import child_main

        ours, theirs = _SPAWN.Pipe()
        proc = _SPAWN.Process(target=child_main, args=(theirs,), name=self.name, daemon=False)
        proc.start()
        theirs.close()
        self._proc, self._conn = proc, ours
        self.pid = proc.pid or 0
        ours.send(self.init)
        answer = await self._receive(self.ready_timeout)
        if isinstance(answer, proto.Failed):
            await self.kill()
            raise ChildError(f"{self.name}: {answer.reason}")
        if not isinstance(answer, proto.Ready):
            gone = not self.alive
            code = proc.exitcode
            await self.kill()
            if gone:
                raise ChildError(f"{self.name} exited ({code}) before it was ready")
            raise ChildError(f"{self.name} did not start within {self.ready_timeout:.0f} s")
        self._last_pong = time.monotonic()
        log.info("%s started (pid %d)", self.name, self.pid)

    async def _receive(self, within: float) -> proto.FromChild | None:
        """The next message, or None (timeout, or the child is gone)."""
        conn = self._conn
        if conn is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if conn.poll():
                try:
                    message: proto.FromChild = conn.recv()
                except (EOFError, OSError):
                    return None
                return message
            if not self.alive:
                return None
            await asyncio.sleep(0.05)
        return None

    def send(self, message: proto.ToChild) -> None:
        if self._conn is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self._conn.send(message)

    async def watch(self) -> str:
        """Ping until the child exits or stops answering; the reason it is gone."""
        while True:
            if not self.alive:
                code = self._proc.exitcode if self._proc is not None else None
                return f"exited ({code})"
            self.send(proto.Ping(time.monotonic()))
            await asyncio.sleep(self.ping_interval)
            self._read_pongs()
            if self.alive and time.monotonic() - self._last_pong > self.ping_timeout:
                await self.kill()
                return f"unresponsive for {self.ping_timeout:.0f} s, killed"

    def _read_pongs(self) -> None:
        conn = self._conn
        try:
            while conn is not None and conn.poll():
                message = conn.recv()
                if isinstance(message, proto.Pong):
                    self._last_pong = time.monotonic()
                    self.calls, self.counted_at = message.calls, message.sent
        except (EOFError, OSError):
            pass

    async def stop(self, grace: float) -> None:
        """Shutdown, then wait up to `grace` seconds, then kill."""
        self.send(proto.Shutdown())
        proc = self._proc
        if proc is not None:
            await asyncio.get_running_loop().run_in_executor(None, proc.join, grace)
            if proc.exitcode is not None:  # (None: still running, killed below)
                level = logging.INFO if proc.exitcode == 0 else logging.ERROR
                log.log(level, "%s (pid %d) exited (%d)", self.name, self.pid, proc.exitcode)
        await self.kill()

    async def kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.is_alive():
            log.warning("%s (pid %d): killed", self.name, self.pid)
            proc.kill()
        if proc is not None:
            await asyncio.get_running_loop().run_in_executor(None, proc.join, 5.0)
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn = None, None
