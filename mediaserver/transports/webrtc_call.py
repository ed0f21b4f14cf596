"""One browser call over WebRTC: its peer connection, the native jitter
buffer its RTP goes into, Opus in and out, the 20 ms paced track aiortc's
sender pulls, the data channel's signals, and its end."""

from __future__ import annotations

import asyncio
import fractions
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import av
from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from mediaserver.config import JitterConfig
from mediaserver.events import AgentClause, AgentSpoke, AgentText, Dtmf, Interrupted, Transcript
from mediaserver.transports.call import FRAME, RATE, CallHandle
from mediaserver.transports.opus import OpusDecoder, OpusEncoder
from native import jitter

if TYPE_CHECKING:
    from mediaserver.transports.webrtc import WebRtcServer

log = logging.getLogger(__name__)

OPUS_RATE = 48000  # Opus' RTP clock, whatever the audio's rate
OPUS_FRAME = OPUS_RATE // 50
TIME_BASE = fractions.Fraction(1, OPUS_RATE)
KEYS = set("0123456789*#ABCD")
BEHIND_FRAMES = 3  # a call this late skips ahead (and counts) instead of bursting


class MediaStats:
    """One call's media counters (read after the call, and by the tests)."""

    def __init__(self) -> None:
        self.packets = 0
        self.decoded = 0
        self.concealed = 0
        self.silent = 0
        self.skipped = 0  # frames the call was behind and did not send
        self.last_packet = 0.0  # monotonic seconds


class WebRtcCall:
    """One browser call: its peer connection, jitter buffer, codec state and pacing."""

    def __init__(
        self,
        server: WebRtcServer,
        pc: RTCPeerConnection,
        handle: CallHandle,
        jitter_config: JitterConfig,
        bitrate: int,
    ) -> None:
        self.server = server
        self.pc = pc
        self.handle = handle
        self.stats = MediaStats()
        self.jitter = jitter.jitter_buffer(
            OPUS_RATE,
            20,
            jitter_config.min_delay_ms,
            jitter_config.max_delay_ms,
            jitter_config.capacity_ms,
        )
        self.decoder = OpusDecoder(RATE, FRAME)
        self.encoder = OpusEncoder(RATE, bitrate)
        self.channel: RTCDataChannel | None = None
        self.opus_type: int | None = None
        self.connected = asyncio.Event()
        self.track = _PacedTrack(self)
        self._closing = False
        self._watchdog: asyncio.Task[None] | None = None

    # -- RTP in, from aiortc's DTLS transport (on the loop) -------------------
    async def on_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        if packet.payload_type != self.opus_type or not packet.payload:
            return
        self.stats.packets += 1
        self.stats.last_packet = time.monotonic()
        self.jitter.put(
            packet.sequence_number,
            packet.timestamp,
            packet.payload,
            arrival_time_ms / 1000.0,
            packet.ssrc,
        )

    # -- every 20 ms, from the sender's pull -----------------------------------
    def exchange(self) -> bytes:
        """The caller's next frame into the call, the agent's next frame out (encoded)."""
        payload, status = self.jitter.pop()
        media = self.handle.media
        if status == jitter.Playout.PACKET and payload is not None:
            try:
                pcm = self.decoder.decode(payload)
                self.stats.decoded += 1
            except Exception:  # a corrupt packet is a lost one
                pcm = self.decoder.conceal()
                self.stats.concealed += 1
        elif status == jitter.Playout.CONCEALED:
            pcm = self.decoder.conceal()
            self.stats.concealed += 1
        else:
            pcm = None
            self.stats.silent += 1
        if self.server.echo:
            out = pcm[:FRAME] if pcm is not None and pcm.size >= FRAME else self.server.silence
        else:
            if pcm is not None and media.inbound.write(pcm[:FRAME]) < FRAME:
                media.dropped_in += 1
            elif pcm is None and self.handle.started:
                media.inbound.write(self.server.silence)  # the call's clock goes on
            out = media.outbound.read()
            media.played.write(out)
        return self.encoder.encode(out)

    # -- signals from the browser ----------------------------------------------
    def on_message(self, message: object) -> None:
        if not isinstance(message, str) or len(message) > 1000:
            return
        try:
            data = json.loads(message)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        kind = data.get("type")
        if kind == "dtmf":
            digits = str(data.get("digits", ""))[:32]
            for digit in digits:
                if digit in KEYS and self.handle.started:
                    self.server.handler.dtmf(self.handle, digit)
        elif kind == "hangup":
            self.end("caller_hangup")

    def send(self, message: dict[str, Any]) -> None:
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))

    def on_session_event(self, event: object) -> None:
        """What the session says, shown by the page."""
        match event:
            case Transcript(text=text):
                self.send({"type": "transcript", "speaker": "caller", "text": text})
            case AgentText(text=text):
                self.send({"type": "agent_text", "text": text})
            case AgentClause(text=text):
                self.send({"type": "agent_clause", "text": text})
            case AgentSpoke():
                timings = dict(event.timings_ms)
                self.send(
                    {
                        "type": "transcript",
                        "speaker": "agent",
                        "text": event.text,
                        "interrupted": event.interrupted,
                        "latency_ms": timings.get("first_audio_out"),
                        "timings_ms": timings,
                    }
                )
            case Interrupted():
                self.send({"type": "interrupted"})
            case Dtmf(digit=digit):
                self.send({"type": "dtmf", "digit": digit})

    # -- life and death ------------------------------------------------------------
    def on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and not self.connected.is_set():
            self.connected.set()
            self.stats.last_packet = time.monotonic()
            if not self.server.echo:
                self.handle.started = True
                self.server.handler.started(self.handle)
        elif state in ("failed", "closed"):
            self.end("connection_" + state)

    async def watch(self, connect_timeout: float, media_timeout: float) -> None:
        """End a call that never connects, or whose browser went silent (vanished)."""
        try:
            await asyncio.wait_for(self.connected.wait(), connect_timeout)
        except TimeoutError:
            self.end("connect_timeout")
            return
        while not self._closing:
            await asyncio.sleep(1.0)
            if time.monotonic() - self.stats.last_packet > media_timeout:
                self.end("media_timeout")
                return

    def end(self, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        handle = self.handle
        media = handle.media
        media.lost, media.late, media.concealed = (
            self.jitter.lost,
            self.jitter.late,
            self.stats.concealed,
        )
        handle.end_reason = handle.end_reason or reason
        log.info(
            "webrtc call %d ended (%s): %d packets, %d concealed, %d skipped, jitter %s",
            handle.call_id,
            reason,
            self.stats.packets,
            self.stats.concealed,
            self.stats.skipped,
            jitter.stats(self.jitter),
        )
        if not handle.ended:
            handle.ended = True
            if handle.started:
                self.server.handler.ended(handle, 200, reason)
        self.send({"type": "ended", "reason": reason, "record_id": handle.record_id})
        self.server.forget(self)
        asyncio.get_running_loop().create_task(self._close())

    async def _close(self) -> None:
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        await self.pc.close()
        self.decoder.close()
        self.encoder.close()


class _PacedTrack(MediaStreamTrack):
    """The agent's audio as aiortc's sender pulls it: one pre-encoded Opus packet
    every 20 ms of wall time. Each pull also moves the caller's audio in."""

    kind = "audio"

    def __init__(self, call: WebRtcCall) -> None:
        super().__init__()
        self.call = call
        self._start: float | None = None
        self._frames = 0

    async def recv(self) -> av.Packet:  # type: ignore[type-arg]
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._frames * 0.02
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        elif -wait > BEHIND_FRAMES * 0.02:  # the loop fell behind: skip, do not burst
            behind = int(-wait / 0.02)
            self._frames += behind
            self.call.stats.skipped += behind
        packet = av.Packet(self.call.exchange())
        packet.pts = self._frames * OPUS_FRAME
        packet.time_base = TIME_BASE
        self._frames += 1
        return packet
