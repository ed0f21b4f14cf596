"""Callers over the WebSocket transports, for bench.latency --transport.

An in-process server (the real Calls, SocketServer and HTTP routes, on a
temporary store, on loopback) and a small client per protocol that speaks
the other side: Twilio Media Streams (µ-law 8 kHz, marks echoed as they
arrive) or /ws/audio (16-bit PCM at 16 kHz). A client waits out the
greeting, says the caller's audio in real time, and measures
voice_to_voice = arrival of the agent's first audio after the caller spoke
(the servers send audio only while the agent speaks) - the moment the client
sent the caller's last voiced frame.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
import websockets
from fastapi import FastAPI

from mediaserver.agents import Agent, AgentBook
from mediaserver.api import twilio, ws_audio
from mediaserver.api.auth import Auth, CallTokens, FailedAuth, RateLimiter
from mediaserver.calllog import Records
from mediaserver.calls import Calls, OneSpeech
from mediaserver.config import TwilioConfig, VadConfig, WebSocketConfig
from mediaserver.metrics import Metrics
from mediaserver.speech import Speech
from mediaserver.store import CallFilter, Store
from mediaserver.transports.websocket_call import SocketServer
from native import g711, resample

AUTH_TOKEN = "bench-auth-token"
LOUD = 500  # an agent frame this loud (peak) is sound


@dataclass
class Endpoint:
    http_port: int
    token: str  # a call token for /ws/audio
    store: Store


@contextlib.asynccontextmanager
async def in_process_server(
    agent: Agent, speech: Speech, vad: VadConfig
) -> AsyncIterator[Endpoint]:
    """The WebSocket transports on a free loopback port, answering with `speech`."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/bench.db")
        records = Records(store, Metrics())
        book = AgentBook(replace(agent, record=False))
        calls = Calls(book, OneSpeech(speech), vad, records=records, data_dir=Path(tmp))
        config = WebSocketConfig()
        apps = SocketServer(config, calls, 10)
        phone = SocketServer(config, calls, 10)
        calls.transports.update(websocket=apps, twilio=phone)
        tokens = CallTokens(store, 3600, "", Path(tmp))
        auth = Auth(store, RateLimiter(100.0, 100), FailedAuth(100, 60.0), tokens)
        twilio_config = TwilioConfig(AUTH_TOKEN, f"http://127.0.0.1:{port}")
        app = FastAPI()
        app.include_router(ws_audio.router(apps, auth, book))
        app.include_router(twilio.router(twilio_config, phone, book, {}))
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
            await asyncio.sleep(0.05)
        try:
            yield Endpoint(port, tokens.issue(), store)
        finally:
            await apps.stop()
            await phone.stop()
            await calls.close()
            server.should_exit = True
            await serving
            records.close()
            store.close()


def speech_end(caller: np.ndarray) -> int:
    """Samples (16 kHz) up to the end of the caller's last sound."""
    loud = np.flatnonzero(np.abs(caller) > LOUD)
    return int(loud[-1]) + 1 if loud.size else caller.size


class _Client:
    """The caller's side: audio out every 20 ms, the agent's audio timed on arrival."""

    rate = 16000

    def __init__(self, caller: np.ndarray) -> None:
        self.caller = caller
        self.ws: Any = None
        self.greeted = asyncio.Event()
        self.last_sound = 0.0  # monotonic time of the agent's last loud frame
        self.first_sound_after: float | None = None  # the agent's first sound after speaking
        self.spoke_at: float | None = None  # when the caller's last voiced frame went out

    def encode(self, pcm16k: np.ndarray) -> str | bytes:
        raise NotImplementedError

    def decode(self, message: str | bytes) -> np.ndarray | None:
        raise NotImplementedError

    def on_audio(self, pcm: np.ndarray) -> None:
        now = time.monotonic()
        if self.spoke_at is not None and self.first_sound_after is None:
            self.first_sound_after = now  # the server sends only while the agent speaks
        if pcm.size and int(np.abs(pcm).max()) > LOUD:
            self.last_sound = now
            self.greeted.set()

    async def receive(self) -> None:
        async for message in self.ws:
            if (pcm := self.decode(message)) is not None:
                self.on_audio(pcm)

    async def talk(self, seconds: float) -> float | None:
        """Wait out the greeting, say the caller's audio, wait `seconds` for the answer."""
        silence = np.zeros(320, np.int16)
        end = speech_end(self.caller)
        loop = asyncio.get_running_loop()
        began = loop.time()
        tick = 0
        offset: int | None = None
        deadline: float | None = None
        while deadline is None or loop.time() < deadline:
            if offset is None and self.greeted.is_set() and time.monotonic() - self.last_sound > 1:
                offset = 0
            frame = silence
            if offset is not None:
                frame = self.caller[offset : offset + 320]
                if frame.size < 320:
                    frame = np.concatenate([frame, silence[frame.size :]])
                if offset < end <= offset + 320:  # the frame with the last voiced sample
                    self.spoke_at = time.monotonic()
                    deadline = loop.time() + seconds
                offset += 320
            await self.ws.send(self.encode(frame))
            if self.spoke_at is not None and self.first_sound_after is not None:
                break
            tick += 1
            await asyncio.sleep(max(0.0, began + tick * 0.02 - loop.time()))
        if self.spoke_at is None or self.first_sound_after is None:
            return None
        return round(1000 * (self.first_sound_after - self.spoke_at), 1)


class AppClient(_Client):
    """/ws/audio, 16-bit PCM at 16 kHz."""

    async def open(self, endpoint: Endpoint) -> None:
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{endpoint.http_port}/ws/audio",
            additional_headers={"Authorization": f"Bearer {endpoint.token}"},
        )
        start = {"type": "start", "agent": "default", "encoding": "pcm16", "rate": 16000}
        await self.ws.send(json.dumps(start))

    def encode(self, pcm16k: np.ndarray) -> str | bytes:
        return pcm16k.astype("<i2").tobytes()

    def decode(self, message: str | bytes) -> np.ndarray | None:
        return np.frombuffer(message, "<i2") if isinstance(message, bytes) else None

    async def close(self) -> None:
        await self.ws.send(json.dumps({"type": "hangup"}))
        await self.ws.close()


class TwilioClient(_Client):
    """Twilio's side of Media Streams: µ-law 8 kHz, marks echoed on arrival."""

    def __init__(self, caller: np.ndarray) -> None:
        super().__init__(caller)
        self.down = resample.resampler(16000, 8000)
        self.encoder = g711.encoder("ulaw", 400)
        self.decoder = g711.decoder("ulaw", 8000)
        self.pending: list[str] = []

    async def open(self, endpoint: Endpoint) -> None:
        url = f"ws://127.0.0.1:{endpoint.http_port}/twilio/media"
        self.ws = await websockets.connect(
            url, additional_headers={"X-Twilio-Signature": twilio.signature(AUTH_TOKEN, url)}
        )
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        await self.ws.send(json.dumps(connected))
        start = {
            "streamSid": "MZbench",
            "callSid": "CAbench",
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {},
        }
        await self.ws.send(json.dumps({"event": "start", "start": start, "streamSid": "MZbench"}))

    def encode(self, pcm16k: np.ndarray) -> str | bytes:
        payload = base64.b64encode(self.encoder.encode(self.down.process(pcm16k))).decode()
        return json.dumps({"event": "media", "streamSid": "MZbench", "media": {"payload": payload}})

    def decode(self, message: str | bytes) -> np.ndarray | None:
        event = json.loads(message)
        if event["event"] == "mark":  # played as it arrives: echo at once
            self.pending.append(event["mark"]["name"])
            return None
        if event["event"] != "media":
            return None
        return np.array(self.decoder.decode(base64.b64decode(event["media"]["payload"])))

    async def receive(self) -> None:
        async for message in self.ws:
            if (pcm := self.decode(message)) is not None:
                self.on_audio(pcm)
            while self.pending:
                name = self.pending.pop(0)
                reply = {"event": "mark", "streamSid": "MZbench", "mark": {"name": name}}
                await self.ws.send(json.dumps(reply))

    async def close(self) -> None:
        await self.ws.send(json.dumps({"event": "stop", "streamSid": "MZbench", "stop": {}}))
        await self.ws.close()


async def call_over(
    transport: str, endpoint: Endpoint, caller: np.ndarray
) -> tuple[float | None, float | None]:
    """One call over `transport` ("twilio" | "ws"): voice-to-voice in ms as the
    client heard it, and as the server's engine measured it (None: no answer)."""
    client: AppClient | TwilioClient = (
        TwilioClient(caller) if transport == "twilio" else AppClient(caller)
    )
    await client.open(endpoint)
    receiving = asyncio.create_task(client.receive())
    try:
        heard = await client.talk(30.0)
    finally:
        await client.close()
        receiving.cancel()
        await asyncio.gather(receiving, return_exceptions=True)
    return heard, await _engine_v2v(endpoint.store)


async def _engine_v2v(store: Store) -> float | None:
    """The server's own voice-to-voice of the newest call's first answer (once recorded)."""
    loop = asyncio.get_running_loop()
    for _ in range(50):
        _, rows = await loop.run_in_executor(None, store.list_calls, CallFilter(limit=1))
        if rows and rows[0]["ended_at"] is not None:
            call = await loop.run_in_executor(None, store.get_call, rows[0]["id"])
            for turn in (call or {}).get("turns", []):
                if turn["speaker"] == "agent" and (turn["timings_ms"] or {}).get("first_audio_out"):
                    return float(turn["timings_ms"]["first_audio_out"])
            return None
        await asyncio.sleep(0.1)
    return None
