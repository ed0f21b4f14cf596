"""A supervised child, from the inside: read Initialize, build the role
(control process or media worker), say Ready, then answer pings until told
to drain and shut down. Its logs go to the supervisor's stderr, each line's
logger prefixed with the child's name ("w2/mediaserver.calls").

SIGTERM (systemd's stop reaches every process of the unit; `kill` one worker
to recycle it) drains the child as the supervisor's Drain does, and it exits
(0) once its calls are over, or after cluster.drain_seconds; the supervisor
restarts it unless it is stopping too. SIGINT is the supervisor's alone."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import faulthandler
import logging
import os
import signal
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Protocol

import uvicorn

from mediaserver import logs
from mediaserver.cluster import proto

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class Role(Protocol):
    """What a child runs: the control process or a media worker."""

    async def start(self) -> None: ...

    def calls(self) -> int: ...

    def drain(self) -> None: ...

    async def stop(self) -> None: ...


class ChildHttp(uvicorn.Server):
    """A child's HTTP server: uvicorn leaves SIGTERM and SIGINT to the child
    (its own handlers would stop the HTTP side, then re-raise SIGTERM and kill
    the process mid-call)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Linux: this process gets `sig` when the supervisor dies (no orphans)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


class _Tag(logging.Filter):
    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.tag + "/"):
            record.name = f"{self.tag}/{record.name}"
        return True


def child_main(conn: Connection) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the supervisor drains us
    init: proto.Initialize = conn.recv()
    logs.configure(json_lines=init.config.server.log_format == "json")
    name = init.me.worker if init.me is not None else init.role
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Tag(name))
    faulthandler.enable()
    try:
        asyncio.run(_serve(init, conn))
    except Exception as exc:
        log.exception("%s failed", name)
        with contextlib.suppress(OSError):
            conn.send(proto.Failed(f"{type(exc).__name__}: {exc}"))


def _build(init: proto.Initialize) -> Role:
    if init.role == "inference":
        from mediaserver.cluster.inference_role import InferenceRole

        return InferenceRole(init.config)
    if init.role == "worker":
        from mediaserver.cluster.worker import MediaWorker

        return MediaWorker(init)
    from mediaserver.cluster.control import ControlProcess

    return ControlProcess(init)


async def _serve(init: proto.Initialize, conn: Connection) -> None:
    role = _build(init)
    try:
        await role.start()
    except Exception as exc:
        log.exception("start-up failed")
        conn.send(proto.Failed(f"{type(exc).__name__}: {exc}"))
        await role.stop()
        return
    conn.send(proto.Ready(os.getpid()))
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[proto.ToChild | None] = asyncio.Queue(maxsize=64)

    def readable() -> None:
        try:
            message: proto.ToChild | None = conn.recv()
        except (EOFError, OSError):
            message = None  # the supervisor is gone
            loop.remove_reader(conn.fileno())
        if inbox.full():  # the supervisor sends one ping a second: never, unless we hang
            inbox.get_nowait()
        inbox.put_nowait(message)

    loop.add_reader(conn.fileno(), readable)
    terminated = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, terminated.set)
    deadline: float | None = None
    try:
        while True:
            if terminated.is_set() and deadline is None:
                log.info("SIGTERM: draining, then exiting")
                role.drain()
                deadline = loop.time() + init.config.cluster.drain_seconds
            if deadline is not None and (role.calls() == 0 or loop.time() >= deadline):
                break
            try:
                message = await asyncio.wait_for(inbox.get(), 0.5)
            except TimeoutError:
                continue
            if message is None or isinstance(message, proto.Shutdown):
                break
            if isinstance(message, proto.Ping):
                conn.send(proto.Pong(message.sent, role.calls()))
            elif isinstance(message, proto.Drain):
                log.info("draining: no new calls")
                role.drain()
    finally:
        loop.remove_reader(conn.fileno())
        await role.stop()  # (a second SIGTERM meanwhile only sets the event again)
