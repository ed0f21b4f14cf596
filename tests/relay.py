"""A userspace UDP relay that impairs media (tc netem is not available):
loss, delay with jitter (which also reorders), on RTP only, so that STUN,
DTLS and RTCP keep the session up. One direction is impaired: from the
first peer that writes (the caller) towards `target`."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass


@dataclass
class Impairment:
    loss: float = 0.0  # probability a packet is dropped
    delay_ms: float = 0.0
    jitter_ms: float = 0.0  # uniform +-; more than a frame reorders packets
    seed: int = 1


def is_rtp(data: bytes) -> bool:
    """RTP, not RTCP (RFC 5761 demultiplexing) nor STUN or DTLS (RFC 7983)."""
    return len(data) >= 12 and 128 <= data[0] <= 191 and not 192 <= data[1] <= 223


class Relay(asyncio.DatagramProtocol):
    def __init__(self, target: tuple[str, int], impairment: Impairment) -> None:
        self.target = target
        self.impairment = impairment
        self.random = random.Random(impairment.seed)
        self.caller: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.forwarded = 0
        self.dropped = 0

    @classmethod
    async def start(cls, target: tuple[str, int], impairment: Impairment) -> Relay:
        loop = asyncio.get_running_loop()
        _, relay = await loop.create_datagram_endpoint(
            lambda: cls(target, impairment), local_addr=("127.0.0.1", 0)
        )
        return relay

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        if addr == self.target:
            if self.caller is not None:
                self.transport.sendto(data, self.caller)
            return
        self.caller = addr
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
