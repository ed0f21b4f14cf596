"""Carrier SIP trunks, terminated with pjsua2.

pjsua2 runs in one thread of its own ("pjsip") that polls libHandleEvents;
every pjsua2 call is made there (commands from the event loop are queued).
Media callbacks run on PJSIP's media thread every 20 ms with 16 kHz PCM that
PJSIP's bridge has already decoded and resampled: they only copy frames into
and out of two native buffers per call, never waiting on asyncio or a model.

    event loop (Session, engine)  <->  CallMedia buffers  <->  media thread
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pjsua2 as pj

from mediaserver.config import SipConfig, TrunkConfig
from mediaserver.transports import pjbuffers
from mediaserver.transports.call import FRAME, RATE, CallHandle, CallHandler, CallMedia

log = logging.getLogger(__name__)

_COMMANDS = 256  # pending pjsua2 commands from the event loop
_PORT_GRACE_SECONDS = 2.0  # how long a disconnected call's port outlives it


def _allowed(source: str, networks: list[Any]) -> bool:
    host = source.rsplit(":", 1)[0].strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in net for net in networks)


class SipServer:
    def __init__(
        self,
        config: SipConfig,
        host: str,
        port: int,
        handler: CallHandler,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.config = config
        self.host, self.port = host, port
        self.handler = handler
        self.loop = loop
        self.calls: dict[int, SipCall] = {}
        self._networks = [ipaddress.ip_network(n, strict=False) for n in config.allow]
        self._commands: collections.deque[Callable[[], None]] = collections.deque(maxlen=_COMMANDS)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pjsip", daemon=True)
        self._account: Any = None
        self._registrations: dict[str, _Registration] = {}
        self._retired: collections.deque[tuple[float, _Port]] = collections.deque()
        self._registrar_addresses: dict[str, set[str]] = {}  # calls from there are the trunk's
        # registration trunks: written by the pjsip thread, read anywhere
        self.trunks: dict[str, TrunkStatus] = {t.name: TrunkStatus() for t in config.trunks}
        self.refusing = False  # draining (a cluster worker): new INVITEs get 503

    # -- from the event loop ----------------------------------------------------
    async def start(self) -> None:
        self._thread.start()
        await asyncio.get_running_loop().run_in_executor(None, self._ready.wait, 15.0)
        if self._error is not None:
            raise OSError(f"SIP could not start on {self.host}:{self.port}: {self._error}")
        if not self._ready.is_set():
            raise OSError("SIP did not start within 15 s")

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 10.0)

    def submit(self, command: Callable[[], None]) -> None:
        """Run `command` on the pjsip thread (the only one that calls pjsua2)."""
        self._commands.append(command)

    def hangup(self, call: CallHandle, code: int = 200) -> None:
        self.submit(lambda: self._end(call.call_id, code))

    def transfer(self, call: CallHandle, target: str) -> None:
        """Blind transfer (REFER); success ends this leg, failure reaches the handler."""
        self.submit(lambda: self._transfer(call.call_id, target))

    def _transfer(self, call_id: int, target: str) -> None:
        if (call := self.calls.get(call_id)) is None:
            return
        try:
            call.xfer(target, pj.CallOpParam(True))
        except pj.Error as exc:
            log.warning("call %d: REFER to %s failed: %s", call_id, target, exc.reason)
            self._notify(self.handler.transfer_failed, call.handle, 0)

    def _end(self, call_id: int, code: int) -> None:
        if (call := self.calls.get(call_id)) is not None:
            call.end(code)

    def forget(self, call_id: int) -> None:
        self.calls.pop(call_id, None)

    def retire(self, port: _Port) -> None:
        """Keep a disconnected call's port alive until the bridge is surely done with it."""
        self._retired.append((time.monotonic() + _PORT_GRACE_SECONDS, port))

    def _destroy_retired(self, now: float) -> None:
        while self._retired and self._retired[0][0] <= now:
            self._retired.popleft()

    # -- the pjsip thread ---------------------------------------------------------
    def _run(self) -> None:
        ep = pj.Endpoint()
        try:
            self._start(ep)
        except Exception as exc:  # pjsua2 raises pj.Error: report it to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        log.info("SIP listening on %s:%d (UDP, TCP)", self.host, self.port)
        try:
            while not self._stop.is_set():
                ep.libHandleEvents(10)
                while self._commands:
                    self._commands.popleft()()
                self._destroy_retired(time.monotonic())
        finally:
            self._shutdown(ep)

    def _start(self, ep: Any) -> None:
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.maxCalls = self.config.max_calls
        cfg.uaConfig.userAgent = "mediaserver"
        cfg.logConfig.level = self.config.log_level
        cfg.logConfig.consoleLevel = self.config.log_level
        cfg.medConfig.clockRate = RATE
        cfg.medConfig.sndClockRate = RATE
        cfg.medConfig.channelCount = 1
        ep.libInit(cfg)
        transport = pj.TransportConfig()
        transport.port = self.port
        transport.boundAddress = self.host
        ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, transport)
        ep.audDevManager().setNullDev()
        self._set_codecs(ep)
        ep.libStart()
        self._account = _Account(self)
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:agent@{self.host}:{self.port}"
        # RTP ports: any free one unless configured, so several processes can share a box
        acfg.mediaConfig.transportConfig.port = self.config.rtp_port
        acfg.mediaConfig.transportConfig.boundAddress = self.host
        self._account.create(acfg, True)
        for trunk in self.config.trunks:
            self._register(trunk)

    def _shutdown(self, ep: Any) -> None:
        """Calls, ports and accounts go before libDestroy (a live one asserts in PJSIP)."""
        ep.hangupAllCalls()
        for _ in range(50):
            ep.libHandleEvents(10)
        for call in list(self.calls.values()):
            call.drop_port()
        self.calls.clear()
        self._destroy_retired(float("inf"))
        for registration in self._registrations.values():
            registration.shutdown()
        self._registrations.clear()
        self._account.shutdown()
        self._account = None
        ep.libDestroy()

    def _register(self, trunk: TrunkConfig) -> None:
        registration = _Registration(self, trunk.name)
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{trunk.username}@{trunk.host}"
        acfg.regConfig.registrarUri = trunk.registrar
        acfg.regConfig.timeoutSec = trunk.expires
        acfg.regConfig.retryIntervalSec = trunk.retry_seconds
        acfg.regConfig.firstRetryIntervalSec = trunk.retry_seconds
        acfg.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", "*", trunk.username, 0, trunk.password)
        )
        acfg.mediaConfig.transportConfig.port = self.config.rtp_port
        acfg.mediaConfig.transportConfig.boundAddress = self.host
        registration.create(acfg, True)
        self._registrations[trunk.name] = registration
        host = trunk.registrar.split(":", 1)[1].split(";")[0].rsplit(":", 1)[0].strip("[]")
        try:
            self._registrar_addresses[trunk.name] = {
                str(info[4][0]) for info in socket.getaddrinfo(host, None)
            }
        except OSError:
            log.warning("trunk %s: cannot resolve %s", trunk.name, host)

    def _set_codecs(self, ep: Any) -> None:
        wanted = {
            name.lower(): len(self.config.codecs) - i for i, name in enumerate(self.config.codecs)
        }
        for codec in ep.codecEnum2():
            name = codec.codecId.split("/")[0] + "/" + codec.codecId.split("/")[1]
            priority = 0
            for want, rank in wanted.items():
                if name.lower() == want:
                    priority = 200 + rank
            ep.codecSetPriority(codec.codecId, priority)

    def _incoming(self, account: Any, prm: Any) -> None:
        call = SipCall(self, account, CallHandle(prm.callId, source=prm.rdata.srcAddress))
        source = call.handle.source
        self.calls[prm.callId] = call
        op = pj.CallOpParam()
        trusted = isinstance(account, _Registration) and source.rsplit(":", 1)[0].strip(
            "[]"
        ) in self._registrar_addresses.get(account.name, ())
        if not (trusted or _allowed(source, self._networks)):
            log.warning("INVITE from %s refused: not a trunk address", source)
            op.statusCode = 403
            call.hangup(op)
            return
        if self.refusing:
            op.statusCode = 503
            call.hangup(op)
            return
        op.statusCode = 200
        call.answer(op)

    def place(self, uri: str, trunk: str | None = None) -> CallHandle:
        """Call `uri` (from the event loop), through a registration trunk if
        named (its credentials answer the carrier's challenge); the handler
        hears started/ended."""
        handle = CallHandle(-1, remote_uri=uri, outbound=True)
        self.submit(lambda: self._place(handle, trunk))
        return handle

    def _place(self, handle: CallHandle, trunk: str | None) -> None:
        uri = handle.remote_uri
        account = self._registrations.get(trunk or "", self._account)
        call = SipCall(self, account, handle)
        try:
            call.makeCall(uri, pj.CallOpParam(True))
        except pj.Error as exc:
            handle.ended = True
            self._notify(self.handler.ended, handle, 0, f"could not call {uri}: {exc.reason}")
            return
        handle.call_id = call.getId()
        self.calls[handle.call_id] = call

    def _notify(self, fn: Callable[..., None], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, server: SipServer) -> None:
        super().__init__()
        self.server = server

    def onIncomingCall(self, prm: Any) -> None:
        try:
            self.server._incoming(self, prm)
        except Exception:  # an exception escaping into PJSIP aborts the process
            log.exception("incoming call failed")


class _Port(pj.AudioMediaPort):  # type: ignore[misc]
    """Copies 20 ms frames between PJSIP's bridge and the call's buffers."""

    def __init__(self, media: CallMedia) -> None:
        super().__init__()
        self.media = media
        self.buf = np.zeros(FRAME, dtype=np.int16)  # once per call
        self.live = True  # False once retired: the bridge may still fire a last callback

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


@dataclass(frozen=True, slots=True)
class TrunkStatus:
    registered: bool = False
    code: int = 0  # the registrar's last answer (0: none yet)
    reason: str = "not registered yet"
    expires: int = 0  # seconds left, as of `at`
    at: float = 0.0  # time.time() of the last answer


class _Registration(pj.Account):  # type: ignore[misc]
    """A registration trunk's account: PJSIP re-registers before expiry and
    retries failures after retry_seconds (never a tight loop)."""

    def __init__(self, server: SipServer, name: str) -> None:
        super().__init__()
        self.server = server
        self.name = name

    def onRegState(self, prm: Any) -> None:
        try:
            info = self.getInfo()
            status = TrunkStatus(
                registered=bool(info.regIsActive) and 200 <= prm.code < 300,
                code=int(prm.code),
                reason=str(prm.reason),
                expires=int(info.regExpiresSec) if info.regIsActive else 0,
                at=time.time(),
            )
            self.server.trunks[self.name] = status
            level = logging.INFO if status.registered else logging.WARNING
            log.log(level, "trunk %s: %d %s", self.name, status.code, status.reason)
        except Exception:
            log.exception("registration state")

    def onIncomingCall(self, prm: Any) -> None:
        try:
            self.server._incoming(self, prm)
        except Exception:
            log.exception("incoming call failed")


class SipCall(pj.Call):  # type: ignore[misc]
    """Lives only in the pjsip thread; the rest of the server holds its handle."""

    def __init__(self, server: SipServer, account: Any, handle: CallHandle) -> None:
        super().__init__(account, handle.call_id if handle.call_id >= 0 else pj.PJSUA_INVALID_ID)
        self.server = server
        self.handle = handle
        self.port: _Port | None = None

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
                # forget it after this callback returns: never delete a call inside its own callback
                server.submit(lambda: server.forget(handle.call_id))
        except Exception:
            log.exception("call state")

    def onCallMediaState(self, prm: Any) -> None:
        try:
            handle = self.handle
            if self.port is not None or handle.ended:
                return
            media = self.getAudioMedia(-1)
            fmt = pj.MediaFormatAudio()
            fmt.type = pj.PJMEDIA_TYPE_AUDIO
            fmt.clockRate = RATE
            fmt.channelCount = 1
            fmt.bitsPerSample = 16
            fmt.frameTimeUsec = 20000
            port = _Port(handle.media)
            port.createPort(f"call{handle.call_id}", fmt)
            media.startTransmit(port)
            port.startTransmit(media)
            self.port = port
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
        destroys it a little later: the conference bridge's clock thread may be
        inside one of its callbacks right now, and tearing the Python object
        down under it crashes the process."""
        if (port := self.port) is None:
            return
        self.port = None
        port.live = False
        self.server.retire(port)
