"""SIP-over-TCP connections, kept in check from outside PJSIP.

The registry builds of PJSIP keep an accepted TCP connection that never
speaks for 600 s (PJSIP_TRANSPORT_SERVER_IDLE_TIME, compile time) and poll
every socket through one table of 64 keys (sip_budget): 62 idle connections
lock every new TCP caller out, and a socket registered while the table's free
keys are all cooling aborts the process. pjsua2 exposes none of this, so the
guard works on PJSIP's own sockets, from the pjsip thread between polls:

- a connection that has received nothing for `idle_seconds` and carries no
  live call is shut down (shutdown(), never close(): PJSIP sees the end of
  the stream, drops its transport and closes its own descriptor), a few per
  sweep so that their keys cool a few at a time;
- from `crowded` connections on, the longest-idle connections go first,
  until the count is back under `crowded` - GATE_SLACK;
- meanwhile, and while any of PJSIP's keys cool, the listening socket drops
  new handshakes (a socket filter; clients retry their SYN a second later):
  a burst of connections then cannot take the last free keys.
"""

from __future__ import annotations

import ctypes
import logging
import os
import socket
import struct
from collections.abc import Collection
from dataclasses import dataclass

log = logging.getLogger(__name__)

IDLE_SECONDS = 30.0  # a connection with no call that received nothing this long is closed
CROWDED = 24  # from this many connections on, no new ones are accepted
GATE_SLACK = 8  # accepted again below CROWDED - GATE_SLACK
PER_SWEEP = 4  # closed per sweep at most (their keys cool 500 ms in PJSIP's table)
_TCP_INFO_LAST_DATA_RECV = 52  # offset of tcpi_last_data_recv (ms) in struct tcp_info
_ESTABLISHED = 1
_SO_ATTACH_FILTER, _SO_DETACH_FILTER = 26, 27
_DROP_ALL = (ctypes.c_uint8 * 8)(0x06, 0, 0, 0, 0, 0, 0, 0)  # BPF: ret #0 (code, jt, jf, k)


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
        self.shut = 0  # connections shut down by the last sweep
        self.gated = False  # the listener drops new handshakes
        self.crowding = False  # too many connections: the longest-idle go first
        self.listener: int | None = None  # PJSIP's listening socket

    def connections(self) -> tuple[list[Connection], int | None]:
        """PJSIP's established connections on our port, and its listening socket."""
        found, listener = [], None
        for fd in _socket_fds():
            with _borrowed(fd) as sock:
                if sock is None or not _ours(sock, self.port):
                    continue
                if (peer := _peer(sock)) is None:
                    listener = fd
                    continue
                info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
                if info[0] != _ESTABLISHED:
                    continue
                idle = struct.unpack_from("I", info, _TCP_INFO_LAST_DATA_RECV)[0]
                found.append(Connection(fd, peer, int(idle)))
        return found, listener

    def sweep(self, in_calls: Collection[str]) -> int:
        """Shut down idle connections (none whose peer is a live call's source);
        how many sockets went away since the last sweep, these counted and
        those the last sweep shut down not."""
        busy = {_plain(source) for source in in_calls}
        found, listener = self.connections()
        gone = max(0, self.open - self.shut - len(found))
        self.open = len(found)
        spare = sorted(
            (c for c in found if c.peer not in busy), key=lambda c: c.idle_ms, reverse=True
        )
        self.listener = listener
        self.crowding = len(found) >= (self.crowded - GATE_SLACK if self.crowding else self.crowded)
        excess = max(0, len(found) - (self.crowded - GATE_SLACK)) if self.crowding else 0
        doomed = [c for i, c in enumerate(spare) if i < excess or c.idle_ms >= self.idle_ms]
        doomed = doomed[:PER_SWEEP]
        for connection in doomed:
            with _borrowed(connection.fd) as sock:
                if sock is not None and _peer(sock) == connection.peer:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        continue
        self.shut = len(doomed)
        if doomed:
            self.closed += len(doomed)
            log.info("SIP/TCP: closed %d idle connections (%d open)", len(doomed), self.open)
        return gone + len(doomed)

    def gate(self, closed: bool) -> None:
        """Drop (or again take) new handshakes at the listening socket."""
        if closed == self.gated or self.listener is None:
            return
        with _borrowed(self.listener) as sock:
            if sock is None:
                return
            if closed:
                program = struct.pack("HxxxxxxQ", 1, ctypes.addressof(_DROP_ALL))
                sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, program)
            else:
                sock.setsockopt(socket.SOL_SOCKET, _SO_DETACH_FILTER, 0)
        self.gated = closed
        if self.crowding or not closed:
            log.log(
                logging.WARNING if self.crowding else logging.DEBUG,
                "SIP/TCP: %s new connections (%d open)",
                "refusing" if closed else "accepting",
                self.open,
            )


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
    """ "[::1]:5070" -> "::1:5070", as _peer writes it."""
    return source.replace("[", "").replace("]", "")
