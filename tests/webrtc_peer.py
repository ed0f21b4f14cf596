"""An aiortc peer playing a browser: it sends a WAV (48 kHz mono) in real
time, opens the control data channel, and keeps what it hears with arrival
times. ICE host candidates only on loopback (tests never leave it)."""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from mediaserver.transports.webrtc import use_host_addresses

RATE = 48000
FRAME = 960


class WavTrack(MediaStreamTrack):
    """`audio` (48 kHz mono int16) paced in real time, then silence."""

    kind = "audio"

    def __init__(self, audio: np.ndarray) -> None:
        super().__init__()
        self.audio = audio.astype(np.int16)
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self.sent / RATE
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        chunk = self.audio[self.sent : self.sent + FRAME]
        if chunk.size < FRAME:
            chunk = np.concatenate([chunk, np.zeros(FRAME - chunk.size, np.int16)])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, RATE)
        self.sent += FRAME
        return frame


@dataclass
class Heard:
    """What the peer received: audio (48 kHz mono) and when each frame arrived."""

    chunks: list[np.ndarray] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    started: float = 0.0

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)

    def longest_gap(self, skip_seconds: float = 1.0) -> float:
        times = [t for t in self.arrivals if t - self.started > skip_seconds]
        return max(np.diff(times), default=0.0) if len(times) > 1 else float("inf")


Signal = Callable[[dict[str, str]], Awaitable[dict[str, Any]]]


class Peer:
    def __init__(self, audio: np.ndarray) -> None:
        self.pc = RTCPeerConnection()
        self.track = WavTrack(audio)
        self.heard = Heard()
        self.closed = asyncio.Event()
        self.pc.addTrack(self.track)
        self.channel = self.pc.createDataChannel("control")
        self.channel.on("message", self._on_message)
        self._reader: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    def _on_message(self, message: str) -> None:
        self.heard.messages.append(json.loads(message))

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self.closed.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        self.heard.started = time.monotonic()
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                pcm = frame.to_ndarray().reshape(-1, len(frame.layout.channels))
                self.heard.chunks.append(pcm.mean(axis=1).astype(np.int16))
                self.heard.arrivals.append(time.monotonic())
        except MediaStreamError:
            pass

    async def offer(self) -> dict[str, str]:
        use_host_addresses(self.pc, ["127.0.0.1"])
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": "offer"}

    async def connect(self, signal: Signal, rewrite: Callable[[str], str] | None = None) -> int:
        """Offer through `signal` (e.g. the HTTP endpoint); the server's call id."""
        answer = await signal(await self.offer())
        sdp = rewrite(answer["sdp"]) if rewrite else answer["sdp"]
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        return int(answer.get("call_id", 0))

    def send(self, message: dict[str, Any]) -> None:
        if self.channel.readyState == "open":
            self.channel.send(json.dumps(message))

    async def hang_up(self) -> None:
        self.send({"type": "hangup"})
        await asyncio.sleep(0.2)
        await self.close()

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
