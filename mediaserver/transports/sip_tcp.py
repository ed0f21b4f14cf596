"""Idle SIP-over-TCP connections, timed out from outside PJSIP.

The registry builds of PJSIP keep an accepted TCP connection that never
speaks for 600 s (PJSIP_TRANSPORT_SERVER_IDLE_TIME, compile time), listen with
a backlog of 5 and poll at most 64 sockets: 62 idle connections lock every
new TCP caller out. pjsua2 exposes none of these settings, so the guard works
on PJSIP's own sockets, from the pjsip thread between libHandleEvents:

- the listening socket's backlog is raised (listen() again on it);
- a connection that has received nothing for `idle_seconds` and carries no
  live call is shut down (shutdown(), never close(): PJSIP sees the end of
  the stream, drops its transport and closes its own descriptor);
- above `crowded` connections, the longest-idle ones are shut down at once.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Collection
from dataclasses import dataclass

log = logging.getLogger(__name__)

BACKLOG = 128
IDLE_SECONDS = 30.0  # a connection with no call that received nothing this long is closed
CROWDED = 24  # above this many, the longest-idle are closed at once (see sip_budget)
_TCP_INFO_LAST_DATA_RECV = 52  # offset of tcpi_last_data_recv (ms) in struct tcp_info
_ESTABLISHED = 1


@dataclass(frozen=True, slots=True)
class Connection:
    fd: int
    peer: str  # "ip:port"
    idle_ms: int


class TcpGuard:
    def __init__(
        self, port: int, idle_seconds: float = IDLE_SECONDS, crowded: int = CROWDED
    ) -> None:
        self.port = port
        self.idle_ms = int(idle_seconds * 1000)
        self.crowded = crowded
        self.closed = 0  # connections shut down so far
        self.open = 0  # connections open at the last sweep

    def raise_backlog(self) -> None:
        for fd in _socket_fds():
            with _borrowed(fd) as sock:
                if sock is None or not _ours(sock, self.port) or _peer(sock) is not None:
                    continue
                sock.listen(BACKLOG)  # on a listening socket: only the backlog changes

    def connections(self) -> list[Connection]:
        found = []
        for fd in _socket_fds():
            with _borrowed(fd) as sock:
                if sock is None or not _ours(sock, self.port):
                    continue
                if (peer := _peer(sock)) is None:
                    continue
                info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
                if info[0] != _ESTABLISHED:
                    continue
                idle = struct.unpack_from("I", info, _TCP_INFO_LAST_DATA_RECV)[0]
                found.append(Connection(fd, peer, int(idle)))
        return found

    def sweep(self, in_calls: Collection[str]) -> int:
        """Shut down idle connections (none whose peer is a live call's source);
        how many sockets went away since the last sweep, these included."""
        busy = {_plain(source) for source in in_calls}
        found = self.connections()
        gone = max(0, self.open - len(found))
        self.open = len(found)
        spare = [c for c in found if c.peer not in busy]
        spare.sort(key=lambda c: c.idle_ms, reverse=True)
        excess = max(0, len(spare) - self.crowded)
        doomed = [c for i, c in enumerate(spare) if i < excess or c.idle_ms >= self.idle_ms]
        for connection in doomed:
            with _borrowed(connection.fd) as sock:
                if sock is not None and _peer(sock) == connection.peer:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        continue
        if doomed:
            self.closed += len(doomed)
            self.open -= len(doomed)
            log.info("SIP/TCP: closed %d idle connections (%d open)", len(doomed), self.open)
        return gone + len(doomed)


def _socket_fds() -> list[int]:
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                fds.append(int(name))
        except OSError:
            continue
    return fds


class _borrowed:
    """A duplicate of PJSIP's descriptor as a socket, closed after use (PJSIP's stays open)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.sock: socket.socket | None = None

    def __enter__(self) -> socket.socket | None:
        try:
            self.sock = socket.socket(fileno=os.dup(self.fd))
        except OSError:
            return None
        return self.sock

    def __exit__(self, *exc: object) -> None:
        if self.sock is not None:
            self.sock.close()


def _ours(sock: socket.socket, port: int) -> bool:
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        return int(sock.getsockname()[1]) == port
    except OSError:
        return False


def _peer(sock: socket.socket) -> str | None:
    try:
        address = sock.getpeername()
    except OSError:
        return None
    return f"{address[0]}:{address[1]}"


def _plain(source: str) -> str:
    """"[::1]:5070" -> "::1:5070", as _peer writes it."""
    return source.replace("[", "").replace("]", "")
