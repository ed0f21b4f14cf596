"""A userspace UDP relay that impairs media (tc netem is not available):
loss, delay with jitter (which also reorders), on RTP only, so that STUN,
DTLS and RTCP keep the session up. One direction is impaired: from the
first peer that writes (the caller) towards `target`."""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass
from typing import Any


@dataclass
class Impairment:
    loss: float = 0.0  # probability a packet is dropped
    delay_ms: float = 0.0
    jitter_ms: float = 0.0  # uniform +-; more than a frame reorders packets
    seed: int = 1


def is_rtp(data: bytes) -> bool:
    """RTP, not RTCP (RFC 5761 demultiplexing) nor STUN or DTLS (RFC 7983)."""
    return len(data) >= 12 and 128 <= data[0] <= 191 and not 192 <= data[1] <= 223


class _Endpoint(asyncio.DatagramProtocol):
    """A UDP socket on a free loopback port, for the relays below."""

    transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def start(cls, target: tuple[str, int] | None, impairment: Impairment) -> Any:
        loop = asyncio.get_running_loop()
        _, endpoint = await loop.create_datagram_endpoint(
            lambda: cls(target, impairment),  # type: ignore[call-arg]
            local_addr=("127.0.0.1", 0),
        )
        return endpoint

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]


class Relay(_Endpoint):
    def __init__(self, target: tuple[str, int] | None, impairment: Impairment) -> None:
        self.target = target
        self.impairment = impairment
        self.random = random.Random(impairment.seed)
        self.caller: tuple[str, int] | None = None
        self.forwarded = 0
        self.dropped = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        if addr == self.target:
            if self.caller is not None:
                self.transport.sendto(data, self.caller)
            return
        self.caller = addr
        if self.target is None:  # not known yet (SipRelay learns it from the answer)
            return
        if not is_rtp(data):
            self.transport.sendto(data, self.target)
            return
        imp = self.impairment
        if self.random.random() < imp.loss:
            self.dropped += 1
            return
        delay = imp.delay_ms + self.random.uniform(-imp.jitter_ms, imp.jitter_ms)
        self.forwarded += 1
        loop = asyncio.get_running_loop()
        loop.call_later(max(0.0, delay) / 1000, self.transport.sendto, data, self.target)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class SipRelay(_Endpoint):
    """A tiny SIP ALG for the impairment tests (one call): SIP over UDP passes
    through, but both SDP bodies get their audio port replaced by an impairing
    Relay's, so RTP both ways crosses the relay (endpoints that latch on to
    where RTP comes from keep using it)."""

    def __init__(self, target: tuple[str, int], impairment: Impairment) -> None:
        self.target = target
        self.impairment = impairment
        self.caller: tuple[str, int] | None = None
        self.media: Relay | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr != self.target:
            self.caller = addr
            task = asyncio.ensure_future(self._pass(data, self.target, from_caller=True))
        elif self.caller is not None:
            task = asyncio.ensure_future(self._pass(data, self.caller, from_caller=False))
        else:
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pass(self, data: bytes, to: tuple[str, int], from_caller: bool) -> None:
        assert self.transport is not None
        head, sep, body = data.partition(b"\r\n\r\n")
        found = re.search(rb"^m=audio (\d+) ", body, re.MULTILINE)
        if sep and found:
            endpoint = ("127.0.0.1", int(found.group(1)))
            if from_caller and self.media is None:
                self.media = await Relay.start(None, self.impairment)
                self.media.caller = endpoint
            elif not from_caller and self.media is not None:
                self.media.target = endpoint
            if self.media is not None:
                body = body.replace(found.group(0), b"m=audio %d " % self.media.port, 1)
                head = re.sub(
                    rb"(?im)^(content-length|l):\s*\d+", b"Content-Length: %d" % len(body), head
                )
                data = head + sep + body
        self.transport.sendto(data, to)

    def close(self) -> None:
        if self.media is not None:
            self.media.close()
        if self.transport is not None:
            self.transport.close()


class Running:
    """An event loop in a thread, for relays used by synchronous tests."""

    def __init__(self) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
