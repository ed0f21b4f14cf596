"""New INVITEs over UDP, dropped in the kernel while PJSIP's socket table is tight.

Every INVITE pjsua2 hands to onIncomingCall already holds an RTP and an RTCP
socket, refused (403, 503) or not, and their keys cool 500 ms once closed
(sip_budget). Refusals free their call slot at once, so a flood of INVITEs
that are all refused (a source off the trunk, a full or draining worker) is
bounded by nothing but the arrival rate: at 50-100 a second the cooling keys
ran the table dry and PJSIP's pj_assert aborted the process. Holding back
polling (sip_budget) only let the kernel queue a backlog that the UDP
transport then read in one burst (up to 50 datagrams per read).

So while the table is tight a socket filter on PJSIP's UDP socket drops
datagrams that start with "INVITE " as they arrive: everything else (ACK,
BYE, responses, keep-alives) goes through, and a caller's INVITE is
retransmitted by its transaction (RFC 3261 17.1.1.2) and taken once keys
have cooled. (An INVITE carried by TCP costs a connection first: sip_tcp.)
"""

from __future__ import annotations

import ctypes
import logging
import socket
import struct

from mediaserver.transports.sip_tcp import _borrowed, _socket_fds

log = logging.getLogger(__name__)

_SO_ATTACH_FILTER, _SO_DETACH_FILTER = 26, 27
_UDP_HEADER = 8  # a UDP socket's filter sees the datagram from its UDP header on
_ACCEPT = 0xFFFFFFFF
# classic BPF (code, jt, jf, k): drop a datagram whose payload starts "INVITE"
_DROP_INVITES = [
    (0x80, 0, 0, 0),  # A = length of the datagram with its UDP header
    (0x35, 0, 5, _UDP_HEADER + 6),  # A >= header + "INVITE"? else accept
    (0x20, 0, 0, _UDP_HEADER),  # A = payload[0:4]
    (0x15, 0, 3, int.from_bytes(b"INVI", "big")),  # else accept
    (0x28, 0, 0, _UDP_HEADER + 4),  # A = payload[4:6]
    (0x15, 0, 1, int.from_bytes(b"TE", "big")),  # else accept
    (0x06, 0, 0, 0),  # drop
    (0x06, 0, 0, _ACCEPT),
]
_PROGRAM = (ctypes.c_uint8 * (8 * len(_DROP_INVITES)))(
    *b"".join(struct.pack("HBBI", *instruction) for instruction in _DROP_INVITES)
)


class InviteGate:
    def __init__(self, port: int) -> None:
        self.port = port
        self.fd: int | None = None  # PJSIP's UDP SIP socket, found by find()
        self.closed = False
        self.closings = 0  # times the gate closed so far

    def find(self) -> bool:
        """Look up PJSIP's UDP socket on our port (once its transport exists)."""
        for fd in _socket_fds():
            with _borrowed(fd) as sock:
                if sock is not None and _udp_on(sock, self.port):
                    self.fd = fd
                    return True
        log.warning("SIP: no UDP socket on port %d: INVITE floods are not gated", self.port)
        return False

    def set(self, closed: bool) -> None:
        """Drop new INVITEs (closed) or take them again."""
        if closed == self.closed or self.fd is None:
            return
        with _borrowed(self.fd) as sock:
            if sock is None:
                return
            if closed:
                program = struct.pack("HxxxxxxQ", len(_DROP_INVITES), ctypes.addressof(_PROGRAM))
                sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, program)
            else:
                sock.setsockopt(socket.SOL_SOCKET, _SO_DETACH_FILTER, 0)
        self.closed = closed
        if closed:
            self.closings += 1
            if self.closings == 1 or self.closings % 100 == 0:
                log.warning("SIP: INVITEs dropped while sockets cool (%d times)", self.closings)


def _udp_on(sock: socket.socket, port: int) -> bool:
    if sock.type != socket.SOCK_DGRAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        return int(sock.getsockname()[1]) == port
    except OSError:
        return False
