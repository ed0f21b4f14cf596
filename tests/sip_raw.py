"""Hand-built SIP requests over UDP or TCP, for tests that send what no
well-behaved user agent would: build an INVITE as text, break it, send it,
read the final answer, and end any call it opened (ACK + BYE)."""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {rtp} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
)


@dataclass
class Request:
    """A request's parts; str() writes it with a Content-Length that fits unless told."""

    start: str
    headers: list[tuple[str, str]]
    body: str = ""
    content_length: int | None = None  # None: the body's own length

    def __str__(self) -> str:
        lines = [self.start, *(f"{name}: {value}" for name, value in self.headers)]
        length = len(self.body.encode()) if self.content_length is None else self.content_length
        if self.content_length is not None or not any(
            n.lower() in ("content-length", "l") for n, _ in self.headers
        ):
            lines.append(f"Content-Length: {length}")
        return "\r\n".join(lines) + "\r\n\r\n" + self.body

    def header(self, name: str) -> str:
        return next(v for n, v in self.headers if n.lower() == name.lower())


def invite(
    port: int, local: tuple[str, int], transport: str = "UDP", user: str = "agent"
) -> Request:
    """A well-formed INVITE to sip:user@127.0.0.1:port from `local`, with a PCMU offer."""
    host, lport = local
    call_id = uuid.uuid4().hex
    return Request(
        f"INVITE sip:{user}@127.0.0.1:{port} SIP/2.0",
        [
            ("Via", f"SIP/2.0/{transport} {host}:{lport};branch=z9hG4bK{uuid.uuid4().hex[:16]}"),
            ("Max-Forwards", "70"),
            ("From", f'"Probe" <sip:probe@{host}:{lport}>;tag={uuid.uuid4().hex[:10]}'),
            ("To", f"<sip:{user}@127.0.0.1:{port}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:probe@{host}:{lport};transport={transport.lower()}>"),
            ("Content-Type", "application/sdp"),
        ],
        SDP.format(rtp=9),  # the discard port: the server's RTP goes nowhere
    )


def options(port: int, local: tuple[str, int], transport: str = "UDP") -> Request:
    request = invite(port, local, transport)
    request.start = request.start.replace("INVITE", "OPTIONS")
    request.headers = [
        (n, "1 OPTIONS" if n == "CSeq" else v) for n, v in request.headers if n != "Content-Type"
    ]
    request.body = ""
    return request


class Peer:
    """One socket to the server's SIP port: UDP, or one TCP connection."""

    def __init__(self, port: int, transport: str = "UDP") -> None:
        self.port = port
        self.transport = transport
        kind = socket.SOCK_DGRAM if transport == "UDP" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        if transport == "TCP":
            self.sock.settimeout(5)
            self.sock.connect(("127.0.0.1", port))
        self.local: tuple[str, int] = self.sock.getsockname()
        self._pending = b""

    def send(self, data: str | bytes) -> None:
        raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        if self.transport == "UDP":
            self.sock.sendto(raw, ("127.0.0.1", self.port))
        else:
            self.sock.sendall(raw)

    def responses(self, call_id: str, timeout: float) -> list[str]:
        """Every response to `call_id` until a final one (or `timeout` seconds)."""
        found: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._receive(deadline - time.monotonic())
            if message is None:
                break
            if message.startswith("SIP/2.0") and _header(message, "Call-ID", "i") == call_id:
                found.append(message)
                if status(message) >= 200:
                    break
        return found

    def final(self, request: Request, timeout: float = 5.0) -> int:
        """Send an INVITE or OPTIONS; its final status (0: none). A call it opened is ended."""
        self.send(str(request))
        answers = self.responses(request.header("Call-ID"), timeout)
        code = status(answers[-1]) if answers else 0
        if answers and 200 <= code < 300 and request.start.startswith("INVITE"):
            self.end_call(request, answers[-1])
        return code if code >= 200 else 0

    def end_call(self, request: Request, ok: str) -> None:
        """ACK a 200 to our INVITE, then BYE, and read the BYE's answer."""
        to = _header(ok, "To", "t") or request.header("To")
        contact = re.search(r"<([^>]+)>", _header(ok, "Contact", "m") or "")
        target = contact.group(1) if contact else request.start.split()[1]
        common = [
            ("Max-Forwards", "70"),
            ("From", request.header("From")),
            ("To", to),
            ("Call-ID", request.header("Call-ID")),
        ]
        via = f"SIP/2.0/{self.transport} {self.local[0]}:{self.local[1]}"
        ack = Request(
            f"ACK {target} SIP/2.0",
            [("Via", f"{via};branch=z9hG4bK{uuid.uuid4().hex[:16]}"), *common, ("CSeq", "1 ACK")],
        )
        bye = Request(
            f"BYE {target} SIP/2.0",
            [("Via", f"{via};branch=z9hG4bK{uuid.uuid4().hex[:16]}"), *common, ("CSeq", "2 BYE")],
        )
        self.send(str(ack))
        self.send(str(bye))
        self.responses(request.header("Call-ID"), 3.0)

    def _receive(self, timeout: float) -> str | None:
        if self.transport == "UDP":
            self.sock.settimeout(max(0.01, timeout))
            try:
                return self.sock.recv(65535).decode("utf-8", "replace")
            except (TimeoutError, OSError):
                return None
        deadline = time.monotonic() + timeout
        while True:
            if (message := self._framed()) is not None:
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65535)
            except (TimeoutError, OSError):
                return None
            if not chunk:
                return None
            self._pending += chunk

    def _framed(self) -> str | None:
        """One whole message off the TCP stream, if there is one."""
        data = self._pending.lstrip(b"\r\n")
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = data[:end].decode("utf-8", "replace")
        length = int(_header(head, "Content-Length", "l") or 0)
        if len(data) < end + 4 + length:
            return None
        self._pending = data[end + 4 + length :]
        return head + "\r\n\r\n" + data[end + 4 : end + 4 + length].decode("utf-8", "replace")

    def close(self) -> None:
        self.sock.close()


def invite_answers(sipp_messages: Path) -> Counter[int]:
    """The final answers to the first INVITEs in a sipp -trace_msg file, by code."""
    codes: Counter[int] = Counter()
    for message in sipp_messages.read_text(errors="replace").split("received ")[1:]:
        body = message.split("\n", 2)[-1].lstrip().split("\n-----", 1)[0]
        if body.startswith("SIP/2.0") and "\nCSeq: 1 INVITE" in body and status(body) >= 200:
            codes[status(body)] += 1
    return codes


def status(response: str) -> int:
    parts = response.split(" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def from_uri(message: str) -> str:
    """The URI of a request's From header, as it was sent ("" if it has none)."""
    value = _header(message, "From", "f") or ""
    return value.split("<", 1)[-1].split(">", 1)[0] if "<" in value else value.split(";")[0]


def _header(message: str, name: str, compact: str) -> str | None:
    for line in message.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() in (name.lower(), compact):
            return value.strip()
    return None
