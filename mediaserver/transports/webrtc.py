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

Its parts: webrtc_offer (checking an offer), webrtc_call (one call: its
media, pacing and signals); this module answers offers and holds the calls.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from mediaserver.config import JitterConfig, WebRtcConfig
from mediaserver.transports.call import FRAME, CallHandle, CallHandler
from mediaserver.transports.webrtc_call import MediaStats, WebRtcCall
from mediaserver.transports.webrtc_offer import (
    OPUS_RTPMAP,
    Busy,
    OfferError,
    check_offer,
    use_host_addresses,
)

__all__ = [
    "Busy",
    "MediaStats",
    "OfferError",
    "WebRtcCall",
    "WebRtcServer",
    "check_offer",
    "use_host_addresses",
]

log = logging.getLogger(__name__)


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
