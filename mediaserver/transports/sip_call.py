"""One pjsua2 call: its state callbacks and the port that copies its media.

Media callbacks run on PJSIP's media thread every 20 ms with 16 kHz PCM that
PJSIP's bridge has already decoded and resampled: they only copy frames into
and out of the call's native buffers, never waiting on asyncio or a model.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pjsua2 as pj

from mediaserver.transports import pjbuffers, sip_carrier
from mediaserver.transports.call import FRAME, RATE, CallHandle, CallMedia

if TYPE_CHECKING:
    from mediaserver.transports.sip import SipServer

log = logging.getLogger(__name__)


class Port(pj.AudioMediaPort):  # type: ignore[misc]
    """Copies 20 ms frames between PJSIP's bridge and the call's buffers."""

    def __init__(self, media: CallMedia) -> None:
        super().__init__()
        self.media = media
        self.buf = np.zeros(FRAME, dtype=np.int16)  # once per call
        self.live = True  # False once retired: the bridge may still fire a last callback

    def create(self, name: str) -> None:
        """Into PJSIP's bridge as `name`: 16 kHz mono 16-bit, 20 ms frames."""
        fmt = pj.MediaFormatAudio()
        fmt.type = pj.PJMEDIA_TYPE_AUDIO
        fmt.clockRate = RATE
        fmt.channelCount = 1
        fmt.bitsPerSample = 16
        fmt.frameTimeUsec = 20000
        self.createPort(name, fmt)

    def destroy(self) -> None:
        """Delete PJSIP's port now, while this object is whole. Left to garbage
        collection, the deletion runs with this object half torn down and the GIL
        released: the bridge's clock, which ticks every port it holds, calls back
        into it and corrupts the heap (a segfault at some later allocation)."""
        pj.AudioMediaPort.__swig_destroy__(self)

    def onFrameReceived(self, frame: Any) -> None:
        try:
            if not self.live or frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
                return  # PJSIP sends ~50 non-audio frames at call start
            n = pjbuffers.read_into(frame.buf, self.buf)
            if self.media.inbound.write(self.buf[:n]) < n:
                self.media.dropped_in += 1
        except Exception:
            log.exception("inbound frame")

    def onFrameRequested(self, frame: Any) -> None:
        if not self.live:
            return
        start = time.perf_counter_ns()
        try:
            pcm = self.media.outbound.read()
            self.media.played.write(pcm)
            pjbuffers.write_from(frame.buf, pcm)
            frame.size = pcm.nbytes
            frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        except Exception:
            log.exception("outbound frame")
        self.media.pacing.record(start, time.perf_counter_ns())


class SipCall(pj.Call):  # type: ignore[misc]
    """Lives only in the pjsip thread; the rest of the server holds its handle."""

    def __init__(self, server: SipServer, account: Any, handle: CallHandle) -> None:
        super().__init__(account, handle.call_id if handle.call_id >= 0 else pj.PJSUA_INVALID_ID)
        self.server = server
        self.handle = handle
        self.port: Port | None = None

    def onCallState(self, prm: Any) -> None:
        try:
            ci = self.getInfo()
            handle = self.handle
            handle.remote_uri, handle.local_uri = ci.remoteUri, ci.localUri
            if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED and not handle.ended:
                handle.ended = True
                self.drop_port()
                server = self.server
                if handle.started or handle.outbound:
                    server._notify(server.handler.ended, handle, ci.lastStatusCode, ci.lastReason)
                server.disconnected(self)  # never deleted inside its own callback
        except Exception:
            log.exception("call state")

    def onCallSdpCreated(self, prm: Any) -> None:
        try:
            prm.sdp.wholeSdp = sip_carrier.with_ptime(prm.sdp.wholeSdp)
        except Exception:
            log.exception("call SDP")

    def onCallMediaState(self, prm: Any) -> None:
        try:
            handle = self.handle
            if self.port is not None or handle.ended:
                return
            media = self.getAudioMedia(-1)
            port = Port(handle.media)
            port.create(f"call{handle.call_id}")
            self.port = port  # in the bridge from here: only drop_port may let it go
            media.startTransmit(port)
            port.startTransmit(media)
            self.server.media_priority.apply()  # the bridge's clock runs from here on
            if not handle.started:
                handle.started = True
                self.server._notify(self.server.handler.started, handle)
        except Exception:
            log.exception("call media")

    def onCallTransferStatus(self, prm: Any) -> None:
        """NOTIFYs about our REFER: a final 2xx means the caller reached the target."""
        try:
            if not prm.finalNotify:
                return
            prm.cont = False
            if 200 <= prm.statusCode < 300:
                log.info("call %d transferred", self.handle.call_id)
                self.handle.transferred = True
                self.end(200)
            else:
                self.server._notify(
                    self.server.handler.transfer_failed, self.handle, prm.statusCode
                )
        except Exception:
            log.exception("transfer status")

    def onDtmfDigit(self, prm: Any) -> None:
        try:
            self.server._notify(self.server.handler.dtmf, self.handle, prm.digit)
        except Exception:
            log.exception("dtmf")

    def end(self, code: int = 200) -> None:
        if self.handle.ended:
            return
        op = pj.CallOpParam()
        op.statusCode = code
        try:
            self.hangup(op)
        except pj.Error as exc:
            log.warning("hangup: %s", exc.info())

    def drop_port(self) -> None:
        """Retire the port at disconnect (a stale port keeps firing). The server
        destroys it a little later (Port.destroy), once the bridge has surely let
        the call's media go."""
        if (port := self.port) is None:
            return
        self.port = None
        port.live = False
        self.server.retire(port)
