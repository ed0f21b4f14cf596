"""Twilio's side of a call, written from Twilio's public documentation
(TwiML <Connect><Stream>, <Gather>; Media Streams WebSocket messages;
webhook security), not from the server's code.

- The voice webhook is a form POST signed with X-Twilio-Signature:
  base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
  sorted by name)). The WebSocket handshake is signed the same way over the
  stream URL, with no parameters.
- Over the socket Twilio sends JSON text: connected, start (streamSid,
  callSid, customParameters, mediaFormat), media (base64 µ-law 8 kHz,
  20 ms, track "inbound"), dtmf, mark (when the audio sent before a mark of
  the server has played, or at once when `clear` drops it), stop.
- The server sends media (base64 µ-law), mark and clear. Twilio plays the
  media in real time from its buffer; clear empties that buffer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
import websockets

from native import g711, resample

RATE = 8000
CHUNK = 160  # 20 ms of µ-law


def sign(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    data = url + "".join(k + v for k, v in sorted((params or {}).items()))
    return base64.b64encode(
        hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    ).decode()


def webhook(
    base: str, auth_token: str, path: str, params: dict[str, str], signature: str | None = None
) -> httpx.Response:
    """POST a signed voice webhook, as Twilio does (base: the server's public URL)."""
    url = base + path
    return httpx.post(
        url,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature
            if signature is not None
            else sign(auth_token, url, params),
        },
        timeout=10,
    )


@dataclass
class TwiML:
    stream_url: str
    parameters: dict[str, str]
    gather_action: str | None
    say: str


def parse_twiml(text: str) -> TwiML:
    root = ET.fromstring(text)
    assert root.tag == "Response", text
    stream = root.find("./Connect/Stream")
    assert stream is not None, text
    gather = root.find("./Gather")
    return TwiML(
        stream.attrib["url"],
        {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")},
        gather.attrib.get("action") if gather is not None else None,
        "".join(gather.itertext()) if gather is not None else "",
    )


def mulaw(pcm16k: np.ndarray) -> bytes:
    """16 kHz int16 -> 8 kHz µ-law, the caller's side of the phone network."""
    down = resample.resampler(16000, RATE).process(pcm16k)
    encoder = g711.encoder("ulaw", 8000)
    return b"".join(encoder.encode(down[i : i + 8000]) for i in range(0, down.size, 8000))


@dataclass
class Playback:
    """Twilio's outbound buffer: media queued, played in real time; marks in line."""

    queue: deque[tuple[str, Any]] = field(default_factory=deque)
    heard: bytearray = field(default_factory=bytearray)  # µ-law as played
    marks_received: list[str] = field(default_factory=list)
    marks_echoed: list[str] = field(default_factory=list)
    cleared: int = 0
    media_received: int = 0
    paused: bool = False  # the test holds playback (as a slow network would)


class TwilioCall:
    """One call: the stream socket, the caller's audio, playback, marks."""

    def __init__(self, auth_token: str, twiml: TwiML, call_sid: str = "CA" + "0" * 32) -> None:
        self.auth_token = auth_token
        self.twiml = twiml
        self.call_sid = call_sid
        self.stream_sid = "MZ" + call_sid[2:]
        self.playback = Playback()
        self.ws: Any = None
        self.sequence = 0
        self.chunk = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._caller: deque[bytes] = deque()  # µ-law chunks to send, one per 20 ms

    async def connect(
        self, signature: str | None = None, media_format: dict[str, Any] | None = None
    ) -> None:
        url = self.twiml.stream_url
        self.ws = await websockets.connect(
            url,
            additional_headers={
                "X-Twilio-Signature": signature
                if signature is not None
                else sign(self.auth_token, url)
            },
            max_size=None,
        )
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self.send(
            {
                "event": "start",
                "sequenceNumber": self._seq(),
                "start": {
                    "accountSid": "AC" + "1" * 32,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "mediaFormat": media_format
                    or {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": self.twiml.parameters,
                },
                "streamSid": self.stream_sid,
            }
        )
        self._tasks = [
            asyncio.create_task(self._receive()),
            asyncio.create_task(self._media_clock()),
        ]

    def _seq(self) -> str:
        self.sequence += 1
        return str(self.sequence)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    def say(self, pcm16k: np.ndarray) -> None:
        """Queue the caller's audio (16 kHz), sent as 20 ms µ-law media."""
        payload = mulaw(pcm16k)
        for i in range(0, len(payload), CHUNK):
            self._caller.append(payload[i : i + CHUNK].ljust(CHUNK, b"\xff"))

    async def press(self, digit: str) -> None:
        await self.send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": self._seq(),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def stop(self) -> None:
        await self.send(
            {
                "event": "stop",
                "sequenceNumber": self._seq(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": "AC" + "1" * 32, "callSid": self.call_sid},
            }
        )
        await self.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ws.close()

    async def closed(self, seconds: float = 30) -> tuple[int | None, str]:
        """Wait for the server to close the socket: (code, reason)."""
        await asyncio.wait_for(self.ws.wait_closed(), seconds)
        return self.ws.close_code, self.ws.close_reason or ""

    async def _media_clock(self) -> None:
        """Every 20 ms: the caller's next chunk (silence, 0xFF, when there is none) out,
        and 20 ms of the server's audio played (marks echoed when reached)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        ticks = 0
        silence = b"\xff" * CHUNK
        while True:
            ticks += 1
            await asyncio.sleep(max(0.0, start + ticks * 0.02 - loop.time()))
            payload = self._caller.popleft() if self._caller else silence
            self.chunk += 1
            await self.send(
                {
                    "event": "media",
                    "sequenceNumber": self._seq(),
                    "media": {
                        "track": "inbound",
                        "chunk": str(self.chunk),
                        "timestamp": str(ticks * 20),
                        "payload": base64.b64encode(payload).decode(),
                    },
                    "streamSid": self.stream_sid,
                }
            )
            if not self.playback.paused:
                await self._play(CHUNK)

    async def _play(self, samples: int) -> None:
        queue = self.playback.queue
        while queue:
            kind, item = queue[0]
            if kind == "mark":
                queue.popleft()
                await self._echo(item)
                continue
            if samples <= 0:
                return
            take = item[:samples]
            self.playback.heard += take
            samples -= len(take)
            if len(take) < len(item):
                queue[0] = ("media", item[len(take) :])
            else:
                queue.popleft()

    async def _echo(self, name: str) -> None:
        self.playback.marks_echoed.append(name)
        await self.send(
            {
                "event": "mark",
                "sequenceNumber": self._seq(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    async def _receive(self) -> None:
        playback = self.playback
        async for raw in self.ws:
            assert isinstance(raw, str), "Media Streams messages are JSON text"
            message = json.loads(raw)
            assert message.get("streamSid") == self.stream_sid, message
            match message["event"]:
                case "media":
                    playback.media_received += 1
                    playback.queue.append(("media", base64.b64decode(message["media"]["payload"])))
                case "mark":
                    name = message["mark"]["name"]
                    playback.marks_received.append(name)
                    playback.queue.append(("mark", name))
                case "clear":
                    playback.cleared += 1
                    pending = [item for kind, item in playback.queue if kind == "mark"]
                    playback.queue.clear()
                    for name in pending:  # Twilio returns the marks a clear dropped
                        await self._echo(name)
                case other:
                    raise AssertionError(f"unexpected message {other!r}")

    def heard_pcm(self) -> np.ndarray:
        """What the caller heard, 8 kHz int16."""
        data = bytes(self.playback.heard)
        decoder = g711.decoder("ulaw", 8000)
        parts = [np.array(decoder.decode(data[i : i + 8000])) for i in range(0, len(data), 8000)]
        return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)
