"""Calls over a WebSocket (Twilio Media Streams, /ws/audio), the part both share.

One SocketCall per socket. Its receive loop decodes the peer's audio (native
G.711 and resampler, allocated once per call) straight into
CallMedia.inbound, which the session drains every 20 ms (a second hop
through a paced buffer here cost 10 ms on average: bench.latency
--transport). One paced task per call does, every 20 ms:

    CallMedia.outbound -> encode -> a bounded send queue -> the socket
    (and, when the peer has sent nothing for 60 ms, silence into
    CallMedia.inbound: the call's clock goes on)

A protocol (subclass) says how messages look. Limits: a message over
max_message_bytes closes with 1009, a malformed one with 1007, one of the
wrong kind with 1003; no start message in start_timeout_seconds or no audio
for media_timeout_seconds closes with 1008; each closes the call record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import numpy as np
from starlette.websockets import WebSocket, WebSocketState

from mediaserver.config import WebSocketConfig
from mediaserver.transports.call import FRAME, CallHandle, CallHandler
from mediaserver.transports.socket_wire import (
    GOING_AWAY,
    NORMAL,
    POLICY,
    TOO_BIG,
    TRY_LATER,
    UNSUPPORTED,
    Encoding,
    ProtocolError,
    WireAudio,
)

log = logging.getLogger(__name__)

BEHIND_FRAMES = 3  # a call this late skips ahead (and counts) instead of bursting
PAUSE_FRAMES = 3  # no caller audio for this many ticks: silence is fed (a late one is not)
SEND_QUEUE = 100  # messages (2 s of frames) waiting for a slow peer; more are dropped
CLOSE_SECONDS = 2.0  # for the close handshake with a peer that does not read


class Slots:
    """A cap on calls at once, taken without an await between check and count."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self.refused = 0

    def take(self) -> bool:
        if self.taken >= self.limit:
            self.refused += 1
            return False
        self.taken += 1
        return True

    def release(self) -> None:
        self.taken -= 1


class SocketCall:
    """One call on one accepted WebSocket; subclasses speak a protocol."""

    kind = "websocket"  # CallHandle.transport

    def __init__(
        self, server: SocketServer, websocket: WebSocket, call_id: int, remote: str = ""
    ) -> None:
        self.server = server
        self.config = server.config
        self.websocket = websocket
        self.handle = CallHandle(call_id, remote_uri=remote, transport=self.kind)
        self.wire: WireAudio | None = None  # set by the start message
        self.silence = np.zeros(FRAME, dtype=np.int16)
        self.outbox: asyncio.Queue[str | bytes] = asyncio.Queue(SEND_QUEUE)
        self.sent_dropped = 0  # messages a slow peer did not take in time
        self.skipped = 0  # ticks the loop was late for
        self.audio_messages = 0
        self.close_code = NORMAL
        self.close_reason = ""
        self._last_audio = time.monotonic()
        self._ending: tuple[str, int, str] | None = None
        self._peer_gone = False  # disconnected: nothing more can be sent
        self._starved = 0  # ticks in a row without caller audio
        self._receiver: asyncio.Task[None] | None = None

    # -- the protocol's part ---------------------------------------------------------
    def on_text(self, text: str) -> Awaitable[None] | None:
        """A text message; may hand back work to await before the next message."""
        raise ProtocolError(UNSUPPORTED, "text messages are not part of this protocol")

    def on_bytes(self, data: bytes) -> None:
        raise ProtocolError(UNSUPPORTED, "binary messages are not part of this protocol")

    def send_audio(self, payload: bytes) -> None:
        """One encoded 20 ms frame of the agent to the peer."""
        self.send(payload)

    def after_frame(self) -> None:
        """Called after each frame of the agent sent (Twilio sends its marks here)."""

    def goodbye(self, reason: str) -> None:
        """The last message before the socket closes (if any)."""

    # -- what protocols call ------------------------------------------------------------
    def start(self, encoding: Encoding, rate: int) -> None:
        """The peer said how its audio is: the call begins."""
        if self.handle.started:
            raise ProtocolError(POLICY, "a second start message")
        self.wire = WireAudio(encoding, rate)
        self._last_audio = time.monotonic()
        self.handle.started = True
        self.server.calls[self.handle] = self
        self.server.handler.started(self.handle)
        log.info(
            "%s call %d started (%s %d Hz) from %s",
            self.kind,
            self.handle.call_id,
            encoding,
            rate,
            self.handle.remote_uri,
        )

    def audio_in(self, payload: bytes) -> None:
        """Peer audio in its encoding: decoded and resampled into CallMedia.inbound."""
        if self.wire is None:
            raise ProtocolError(POLICY, "audio before the start message")
        self._last_audio = time.monotonic()
        self.audio_messages += 1
        self._starved = 0
        inbound = self.handle.media.inbound
        for pcm in self.wire.decode(payload):
            if (taken := inbound.write(pcm)) < pcm.size:  # the session fell 2 s behind
                self.handle.media.dropped_in += -(-(pcm.size - taken) // FRAME)

    def dtmf(self, digits: str) -> None:
        for digit in digits[:32]:
            if digit in KEYS and self.handle.started and not self.handle.ended:
                self.server.handler.dtmf(self.handle, digit)

    def send(self, message: str | bytes) -> None:
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            self.sent_dropped += 1

    def end(self, reason: str, code: int = NORMAL, text: str = "") -> None:
        """End the call (from either side); the socket closes with `code`."""
        if self._ending is not None:
            return
        self._ending = (reason, code, text or reason.replace("_", " "))
        if self._receiver is not None and self._receiver is not asyncio.current_task():
            self._receiver.cancel()

    # -- life ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve the (accepted) socket until the call ends; the record is closed then."""
        pacer = asyncio.create_task(self._pace())
        sender = asyncio.create_task(self._send_all())
        self._receiver = asyncio.create_task(self._receive_all())
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiver
        except ProtocolError as exc:
            log.info("%s call %d: %s", self.kind, self.handle.call_id, exc.reason)
            self.end(exc.end_reason, exc.code, exc.reason)
        except Exception:
            log.exception("%s call %d failed", self.kind, self.handle.call_id)
            self.end("error", 1011, "internal error")
        finally:
            if self._ending is None:  # the server is stopping
                self.end("server_shutdown", GOING_AWAY)
            reason, code, text = self._ending or ("error", 1011, "")
            self._finish_call(reason)
            pacer.cancel()
            if not self._peer_gone:
                self.goodbye(reason)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.outbox.join(), CLOSE_SECONDS)
            sender.cancel()
            await asyncio.gather(pacer, sender, return_exceptions=True)
            self.close_code, self.close_reason = code, text
            if not self._peer_gone:
                await self._close(code, text)

    def _finish_call(self, reason: str) -> None:
        handle = self.handle
        self.server.calls.pop(handle, None)
        handle.end_reason = handle.end_reason or reason
        if handle.started and not handle.ended:
            handle.ended = True
            self.server.handler.ended(handle, 200, reason)
        handle.ended = True
        log.info(
            "%s call %d ended (%s): %d audio messages in, %d dropped in, %d out dropped, "
            "%d ticks skipped",
            self.kind,
            handle.call_id,
            reason,
            self.audio_messages,
            handle.media.dropped_in,
            self.sent_dropped,
            self.skipped,
        )

    async def _receive_all(self) -> None:
        loop_time = time.monotonic
        limit_bytes = self.config.max_message_bytes
        while self._ending is None:
            started = self.handle.started
            limit = (
                self.config.media_timeout_seconds if started else self.config.start_timeout_seconds
            )
            remaining = self._last_audio + limit - loop_time()
            if remaining <= 0:
                raise ProtocolError(
                    POLICY,
                    f"no audio for {limit} s" if started else f"no start message in {limit} s",
                    "media_timeout" if started else "start_timeout",
                )
            try:
                message: MutableMapping[str, Any] = await asyncio.wait_for(
                    self.websocket.receive(), remaining
                )
            except TimeoutError:
                continue
            if message["type"] == "websocket.disconnect":
                self._peer_gone = True
                if message.get("code") == TOO_BIG:  # past uvicorn's ws_max_size: it closed
                    self.end("message_too_big", TOO_BIG)
                else:
                    self.end("caller_hangup" if started else "disconnected", NORMAL)
                return
            data = message.get("bytes")
            text = message.get("text")
            size = len(data) if data is not None else len(text or "")
            if size > limit_bytes:
                raise ProtocolError(
                    TOO_BIG,
                    f"a message of {size} bytes; at most {limit_bytes} allowed",
                    "message_too_big",
                )
            if data is not None:
                self.on_bytes(data)
            elif text is not None and (work := self.on_text(text)) is not None:
                await work

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        frames = 0
        while True:
            frames += 1
            wait = start + frames * 0.02 - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            elif -wait > BEHIND_FRAMES * 0.02:  # the loop fell behind: skip, do not burst
                behind = int(-wait / 0.02)
                frames += behind
                self.skipped += behind
            if self.handle.started and not self.handle.ended:
                began = time.perf_counter_ns()
                self._tick()
                self.handle.media.pacing.record(began, time.perf_counter_ns())

    def _tick(self) -> None:
        media = self.handle.media
        self._starved += 1
        if self._starved >= PAUSE_FRAMES:  # the peer paused: the call's clock goes on
            media.inbound.write(self.silence)
        if media.outbound.buffered == 0 or self.wire is None:
            media.played.write(self.silence)
            return
        out = media.outbound.read()
        media.played.write(out)
        self.send_audio(self.wire.encode(out))
        self.after_frame()

    async def _send_all(self) -> None:
        websocket = self.websocket
        while True:
            message = await self.outbox.get()
            try:
                if not self._peer_gone:
                    if isinstance(message, bytes):
                        await websocket.send_bytes(message)
                    else:
                        await websocket.send_text(message)
            except Exception:  # the peer went away mid-send: the receive loop hears of it
                self._peer_gone = True
            finally:
                self.outbox.task_done()

    async def _close(self, code: int, reason: str) -> None:
        websocket = self.websocket
        if websocket.application_state != WebSocketState.CONNECTED:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code, reason), CLOSE_SECONDS)


KEYS = set("0123456789*#ABCD")


class SocketServer:
    """The calls of one WebSocket endpoint: their cap, and the Transport the
    rest of the server hangs them up through."""

    def __init__(self, config: WebSocketConfig, handler: CallHandler, max_calls: int) -> None:
        self.config = config
        self.handler = handler
        self.slots = Slots(max_calls)
        self.calls: dict[CallHandle, SocketCall] = {}
        self._next_id = 1

    def next_id(self) -> int:
        call_id, self._next_id = self._next_id, self._next_id + 1
        return call_id

    async def admit(self, websocket: WebSocket, make_call: Callable[[int], SocketCall]) -> None:
        """Accept the socket and run its call, or close it with 1013 when every slot is taken."""
        if not self.slots.take():  # no await between the check and the count
            await websocket.accept()
            await websocket.close(TRY_LATER, f"all {self.slots.limit} call slots are taken")
            return
        try:
            await websocket.accept()
            await make_call(self.next_id()).run()
        finally:
            self.slots.release()

    # -- Transport -----------------------------------------------------------------
    def hangup(self, call: CallHandle, code: int = 200) -> None:
        if (socket_call := self.calls.get(call)) is not None:
            socket_call.end("agent_hangup", NORMAL, "the agent hung up")

    def transfer(self, call: CallHandle, target: str) -> None:
        """No SIP leg to refer: the agent says how to reach a person."""
        asyncio.get_running_loop().call_soon(self.handler.transfer_failed, call, 501)

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            call.end("server_shutdown", GOING_AWAY, "the server is stopping")
        await asyncio.sleep(0)
