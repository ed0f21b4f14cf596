"""Browser calls over WebRTC, terminated with aiortc.

aiortc does ICE, DTLS, SRTP and RTCP. The audio path is ours: each call's
audio receiver hands its RTP packets to the native adaptive jitter buffer
(in place of aiortc's fixed 4-packet reorder buffer, its decoder thread and
its unbounded frame queue), and one paced task per call does, every 20 ms:

    jitter buffer -> libopus decode at 16 kHz mono (PLC when a packet is
    missing) -> CallMedia.inbound  |  CallMedia.outbound -> libopus encode
    -> aiortc's sender (a pre-encoded packet: no resampling, no thread hop)

Keypad digits and hang-up arrive on a data channel; the session's events
(transcripts, agent text, latency) go back on it as JSON.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from mediaserver.config import JitterConfig, WebRtcConfig
from mediaserver.events import AgentClause, AgentSpoke, AgentText, Dtmf, Interrupted, Transcript
from mediaserver.transports.call import FRAME, RATE, CallHandle, CallHandler
from mediaserver.transports.opus import OpusDecoder, OpusEncoder
from native import jitter

log = logging.getLogger(__name__)

OPUS_RATE = 48000  # Opus' RTP clock, whatever the audio's rate
OPUS_FRAME = OPUS_RATE // 50
TIME_BASE = fractions.Fraction(1, OPUS_RATE)
KEYS = set("0123456789*#ABCD")
OPUS_RTPMAP = re.compile(r"a=rtpmap:(\d+) opus/48000", re.IGNORECASE)
BEHIND_FRAMES = 3  # a call this late skips ahead (and counts) instead of bursting


class OfferError(ValueError):
    """The offer cannot be answered; the message says why (HTTP 400)."""


class Busy(RuntimeError):
    """Every WebRTC call slot is taken (HTTP 503)."""


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


class WebRtcServer:
    """Answers browser offers; each answered offer is a call for the handler."""

    def __init__(
        self,
        config: WebRtcConfig,
        jitter_config: JitterConfig,
        handler: CallHandler,
        *,
        echo: bool = False,
    ) -> None:
        import numpy as np

        self.config = config
        self.jitter_config = jitter_config
        self.handler = handler
        self.echo = echo  # no session: every call hears itself (benchmarks)
        self.calls: dict[CallHandle, WebRtcCall] = {}
        self.silence = np.zeros(FRAME, dtype=np.int16)
        self._next_id = 1
        self._negotiating = 0  # offers holding a call slot while they are answered

    def ice_servers(self) -> list[dict[str, Any]]:
        """For the page's RTCPeerConnection (and ours)."""
        servers: list[dict[str, Any]] = []
        for url in self.config.ice_servers:
            server: dict[str, Any] = {"urls": [url]}
            if url.startswith("turn"):
                server["username"] = self.config.turn_username
                server["credential"] = self.config.turn_password
            servers.append(server)
        return servers

    async def answer(
        self, sdp: str, kind: str, agent: str | None = None, remote: str = ""
    ) -> tuple[CallHandle, str]:
        """Answer a browser's (non-trickle) offer: (the call, the answer's SDP)."""
        if kind != "offer":
            raise OfferError(f"expected an offer, got {kind!r}")
        if (refusal := self.handler.refusal()) is not None:  # the models are saturated
            raise Busy(refusal)
        check_offer(sdp)
        # the slot is taken here, before the first await: offers arriving together
        # cannot all see the same free slot
        if len(self.calls) + self._negotiating >= self.config.max_calls:
            raise Busy(f"all {self.config.max_calls} WebRTC call slots are taken")
        self._negotiating += 1
        try:
            return await self._answer(sdp, agent, remote)
        finally:
            self._negotiating -= 1

    async def _answer(self, sdp: str, agent: str | None, remote: str) -> tuple[CallHandle, str]:
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[RTCIceServer(**server) for server in self.ice_servers()])
        )
        handle = CallHandle(self._next_id, remote_uri=remote, transport="webrtc", agent=agent)
        self._next_id += 1
        call = WebRtcCall(self, pc, handle, self.jitter_config, self.config.opus_bitrate)
        try:
            answer = await asyncio.wait_for(
                self._negotiate(call, sdp), self.config.connect_timeout_seconds
            )
        except TimeoutError:
            await pc.close()
            raise OfferError("gathering ICE candidates timed out") from None
        except OfferError:
            await pc.close()
            raise
        except Exception as exc:  # aiortc's words for a malformed SDP vary
            await pc.close()
            raise OfferError(f"cannot answer this offer: {exc}") from None
        handle.on_event = call.on_session_event
        self.calls[handle] = call
        call._watchdog = asyncio.get_running_loop().create_task(
            call.watch(self.config.connect_timeout_seconds, self.config.media_timeout_seconds)
        )
        log.info("webrtc call %d offered from %s", handle.call_id, remote)
        return handle, answer

    async def _negotiate(self, call: WebRtcCall, sdp: str) -> str:
        pc = call.pc
        pc.on("connectionstatechange", call.on_state)

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            call.channel = channel
            channel.on("message", call.on_message)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except (ValueError, KeyError, IndexError) as exc:
            raise OfferError(f"not a valid SDP offer: {exc}") from None
        audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
        if not audio:
            raise OfferError("the offer has no audio")
        transceiver = audio[0]
        opus = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.name == "opus"]
        transceiver.setCodecPreferences(opus)
        transceiver.sender.replaceTrack(call.track)
        transceiver.direction = "sendrecv"
        # our jitter buffer in place of aiortc's, at the receiver
        transceiver.receiver._handle_rtp_packet = call.on_rtp  # type: ignore[method-assign]
        if self.config.host_addresses:
            use_host_addresses(pc, list(self.config.host_addresses))
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except ValueError as exc:  # e.g. no codec in common
            raise OfferError(f"cannot answer this offer: {exc}") from None
        answer = str(pc.localDescription.sdp)
        if (found := OPUS_RTPMAP.search(answer)) is None:
            raise OfferError("the offer has no Opus audio")
        call.opus_type = int(found.group(1))
        if "a=candidate" not in answer:
            raise OfferError("no ICE candidate could be gathered")
        return answer

    def forget(self, call: WebRtcCall) -> None:
        self.calls.pop(call.handle, None)

    # -- Transport -------------------------------------------------------------
    def hangup(self, call: CallHandle, code: int = 200) -> None:
        if (webrtc := self.calls.get(call)) is not None:
            webrtc.end("agent_hangup")

    def transfer(self, call: CallHandle, target: str) -> None:
        """A browser call cannot be handed to a SIP URI: the agent says how to reach a person."""
        asyncio.get_running_loop().call_soon(self.handler.transfer_failed, call, 501)

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            call.end("server_shutdown")
        await asyncio.sleep(0)


def check_offer(sdp: str) -> None:
    """Refuse what aiortc would take but cannot make a call of: no audio, audio
    disabled (port 0), or no DTLS fingerprint (media that nobody authenticates)."""
    lines = sdp.splitlines()
    audio = [line for line in lines if line.startswith("m=audio")]
    if not audio:
        raise OfferError("the offer has no audio")
    fields = audio[0].split()
    if len(fields) < 2 or fields[1].split("/")[0] == "0":
        raise OfferError("the offer's audio is disabled (m=audio with port 0)")
    if not any(line.startswith("a=fingerprint:") for line in lines):
        raise OfferError("the offer has no DTLS fingerprint (a=fingerprint): it cannot be secured")


def use_host_addresses(pc: RTCPeerConnection, addresses: list[str]) -> None:
    """ICE host candidates on `addresses` only (aioice offers every interface
    but loopback): before setLocalDescription, which gathers them."""
    dtls = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        dtls.append(pc.sctp.transport)
    for transport in dtls:
        _gather_on(transport.transport.iceGatherer._connection, addresses)


def _gather_on(connection: Any, addresses: list[str]) -> None:
    """Make an aioice Connection gather host candidates on `addresses` only."""
    original: Callable[..., Any] = connection.get_component_candidates

    async def gather_candidates() -> None:
        if connection._local_candidates_start:
            return
        connection._local_candidates_start = True
        for component in connection._components:
            connection._local_candidates += await original(component=component, addresses=addresses)
        connection._local_candidates_end = True

    connection.gather_candidates = gather_candidates
