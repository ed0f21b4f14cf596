"""Carrier SIP trunks, terminated with pjsua2.

pjsua2 runs in one thread of its own ("pjsip") that polls libHandleEvents;
every pjsua2 call is made there (commands from the event loop are queued).
Media callbacks run on PJSIP's media thread every 20 ms with 16 kHz PCM that
PJSIP's bridge has already decoded and resampled: they only copy frames into
and out of two native buffers per call, never waiting on asyncio or a model.

    event loop (Session, engine)  <->  CallMedia buffers  <->  media thread

Its parts: sip_call (one call), sip_trunks (registration trunks), sip_check,
sip_tcp, sip_budget, sip_carrier and sip_log; this module runs the endpoint.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from mediaserver.caller_id import from_uri
from mediaserver.config import SipConfig, TrunkConfig
from mediaserver.transports import sip_budget, sip_carrier, sip_check, sip_log, sip_tcp, sip_trunks
from mediaserver.transports.call import RATE, CallHandle, CallHandler
from mediaserver.transports.media_priority import MediaPriority
from mediaserver.transports.sip_call import Port, SipCall
from mediaserver.transports.sip_trunks import Registration, TrunkStatus

__all__ = ["SipServer", "TrunkStatus"]

log = logging.getLogger(__name__)

_COMMANDS = 256  # pending pjsua2 commands from the event loop
_PORT_GRACE_SECONDS = 2.0  # how long a disconnected call's port outlives it
_TCP_SWEEP_SECONDS = 0.1  # SIP/TCP connections are counted this often


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
        self.calls: dict[int, SipCall] = {}  # live calls by their pjsua call index
        # Disconnected calls, kept until their index is free again: a pj.Call's
        # destructor hangs up (603) and unhooks whatever call holds its index now.
        self._ended: list[SipCall] = []
        self._networks = [ipaddress.ip_network(n, strict=False) for n in config.allow]
        # INVITEs refused this round, answered after it (see _refuse)
        self._refusals: list[tuple[SipCall, int, str]] = []
        self._commands: collections.deque[Callable[[], None]] = collections.deque(maxlen=_COMMANDS)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pjsip", daemon=True)
        self._account: Any = None
        self._log: sip_log.PjsipLog | None = None
        self._tcp = sip_tcp.TcpGuard(port, idle_seconds=config.tcp_idle_seconds)
        self._budget = sip_budget.SocketBudget(config.max_calls)
        self._registrations: dict[str, Registration] = {}
        self._retired: collections.deque[tuple[float, Port]] = collections.deque()
        self.media_priority = MediaPriority(config.media_nice, config.media_realtime)
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
        self.submit(lambda: self._end(call, code))

    def transfer(self, call: CallHandle, target: str) -> None:
        """Blind transfer (REFER); success ends this leg, failure reaches the handler."""
        self.submit(lambda: self._transfer(call, target))

    def send_dtmf(self, call: CallHandle, digits: str) -> None:
        """Press keys towards the far end (RFC 2833/4733 events, pjsua2's dialDtmf)."""
        self.submit(lambda: self._send_dtmf(call, digits))

    def _send_dtmf(self, handle: CallHandle, digits: str) -> None:
        if (call := self._live(handle)) is None:
            return
        try:
            call.dialDtmf(digits)
        except pj.Error as exc:
            log.warning("call %d: DTMF %s not sent: %s", handle.call_id, digits, exc.reason)

    def _live(self, handle: CallHandle) -> SipCall | None:
        """The call of this handle, if still live: pjsua reuses a call index as
        soon as a call ends, so an index alone may name a newer call."""
        call = self.calls.get(handle.call_id)
        return call if call is not None and call.handle is handle else None

    def _transfer(self, handle: CallHandle, target: str) -> None:
        if (call := self._live(handle)) is None:
            return
        try:
            call.xfer(target, pj.CallOpParam(True))
        except pj.Error as exc:
            log.warning("call %d: REFER to %s failed: %s", handle.call_id, target, exc.reason)
            self._notify(self.handler.transfer_failed, call.handle, 0)

    def _end(self, handle: CallHandle, code: int) -> None:
        if (call := self._live(handle)) is not None:
            call.end(code)

    def disconnected(self, call: SipCall) -> None:
        """From the call's own DISCONNECTED callback: out of the live calls, kept until reaped."""
        self._budget.released(sip_budget.PER_CALL, time.monotonic())
        if self.calls.get(call.handle.call_id) is call:
            del self.calls[call.handle.call_id]
        self._ended.append(call)

    def _track(self, call: SipCall) -> None:
        if (old := self.calls.get(call.handle.call_id)) is not None and old is not call:
            self._ended.append(old)  # never dropped while its index is busy
        self.calls[call.handle.call_id] = call

    def _reap(self) -> None:
        """Drop ended calls whose pjsua index no call holds now (between
        libHandleEvents, so no INVITE can take it meanwhile)."""
        if not self._ended:
            return
        kept = []
        for call in self._ended:
            index = call.handle.call_id
            if index in self.calls or (index >= 0 and call.isActive()):
                kept.append(call)
        self._ended = kept

    def retire(self, port: Port) -> None:
        """Keep a disconnected call's port alive until the bridge is surely done with it."""
        self._retired.append((time.monotonic() + _PORT_GRACE_SECONDS, port))

    def _destroy_retired(self, now: float) -> None:
        while self._retired and self._retired[0][0] <= now:
            self._retired.popleft()[1].destroy()

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
        next_sweep = 0.0
        try:
            while not self._stop.is_set():
                self._poll(ep)
                while self._commands:
                    self._commands.popleft()()
                self._reap()
                now = time.monotonic()
                self._destroy_retired(now)
                if now >= next_sweep:
                    next_sweep = now + _TCP_SWEEP_SECONDS
                    self._sweep_tcp()
        finally:
            self._shutdown(ep)

    def _poll(self, ep: Any) -> None:
        """One round of PJSIP's events, if its socket table can take what the
        round may register (sip_budget): every round, shutting down included."""
        now = time.monotonic()
        self._budget.expire(now)
        self._tcp.gate(self._tcp.crowding or self._budget.cooling > 0)
        if self._budget.may_poll(len(self.calls), self._tcp.open, self._tcp.gated, now):
            ep.libHandleEvents(10)
            self._send_refusals()
        else:
            time.sleep(0.01)  # sockets closed lately: let their keys cool first

    def _sweep_tcp(self) -> None:
        try:
            gone = self._tcp.sweep({call.handle.source for call in self.calls.values()})
            self._budget.released(gone, time.monotonic())
        except Exception:  # the guard is a defence: SIP goes on without it
            log.exception("SIP/TCP idle sweep")

    def _start(self, ep: Any) -> None:
        with sip_log.startup_silenced():
            ep.libCreate()
            cfg = pj.EpConfig()
            cfg.uaConfig.threadCnt = 0
            cfg.uaConfig.mainThreadOnly = False
            cfg.uaConfig.maxCalls = self.config.max_calls
            cfg.uaConfig.userAgent = "mediaserver"
            self._log = sip_log.configure(cfg, self.config.log_level)
            cfg.medConfig.clockRate = RATE
            cfg.medConfig.sndClockRate = RATE
            cfg.medConfig.channelCount = 1
            cfg.medConfig.noVad = True  # silence is sent as RTP: carriers time out a quiet stream
            cfg.medConfig.quality = 4  # 8 kHz resampled with the small filter (8: the large)
            cfg.medConfig.sndAutoCloseTime = -1  # one media clock for good: it keeps media_nice
            sip_carrier.keep_ports_in_from_and_to()
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
        """Calls, ports and accounts go before libDestroy (a live one asserts in PJSIP).
        INVITEs meanwhile are refused, polled for under the budget: each costs
        two socket keys even refused (unguarded, a stream of them aborted the exit)."""
        self.refusing = True
        ep.hangupAllCalls()
        for _ in range(50):
            self._poll(ep)
        for call in list(self.calls.values()):
            call.drop_port()
        self.calls.clear()
        self._ended.clear()
        self._destroy_retired(float("inf"))
        for registration in self._registrations.values():
            registration.shutdown()
        self._registrations.clear()
        self._account.shutdown()
        self._account = None
        ep.libDestroy()
        if self._log is not None:
            self._log.close()

    def _register(self, trunk: TrunkConfig) -> None:
        registration, addresses = sip_trunks.register(self, trunk)
        self._registrations[trunk.name] = registration
        if addresses is not None:
            self._registrar_addresses[trunk.name] = addresses

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
        self._track(call)
        if (reason := _malformed(prm.rdata)) is not None:
            log.warning("INVITE from %s refused: %s", source, reason)
            self._refuse(call, 400, f"Bad Request: {reason}")
            return
        trusted = isinstance(account, Registration) and source.rsplit(":", 1)[0].strip(
            "[]"
        ) in self._registrar_addresses.get(account.name, ())
        if not (trusted or _allowed(source, self._networks)):
            log.warning("INVITE from %s refused: not a trunk address", source)
            self._refuse(call, 403)
            return
        refusal = "draining" if self.refusing else self.handler.refusal()
        if refusal is not None:
            log.warning("INVITE from %s refused: %s", source, refusal)
            self._refuse(call, 503, "Service Unavailable")
            return
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)

    def _refuse(self, call: SipCall, code: int, reason: str = "") -> None:
        """Answer `code` once this round of polling is over. PJSIP has given the
        INVITE an RTP and an RTCP socket already; refused at once, its line is
        free for the next INVITE of the same round, so a flood of refused
        INVITEs (off-trunk, a full or draining worker) opened and closed
        sockets without bound and their cooling keys ran PJSIP's table dry
        (sip_budget: an abort). Held over the round, a refused call keeps its
        line: with every line held, pjsua answers 486 itself, opening nothing."""
        self._refusals.append((call, code, reason))

    def _send_refusals(self) -> None:
        refusals, self._refusals = self._refusals, []
        for call, code, reason in refusals:
            op = pj.CallOpParam()
            op.statusCode = code
            if reason:
                op.reason = reason
            try:
                call.hangup(op)
            except pj.Error as exc:  # e.g. CANCELled meanwhile
                log.info("refusing a call: %s", exc.info())

    def place(self, uri: str, trunk: str | None = None, caller_id: str = "") -> CallHandle:
        """Call `uri` (from the event loop), through a registration trunk if
        named (its credentials answer the carrier's challenge), From
        `caller_id` if one is given (a number: at the account's host); the
        handler hears started/ended."""
        handle = CallHandle(-1, remote_uri=uri, outbound=True)
        self.submit(lambda: self._place(handle, trunk, caller_id))
        return handle

    def _place(self, handle: CallHandle, trunk: str | None, caller_id: str) -> None:
        uri = handle.remote_uri
        account = self._registrations.get(trunk or "", self._account)
        call = SipCall(self, account, handle)
        op = pj.CallOpParam(True)
        if caller_id:
            op.txOption.localUri = from_uri(caller_id, self._account_host(account))
        try:
            call.makeCall(uri, op)
        except pj.Error as exc:
            handle.ended = True
            self._notify(self.handler.ended, handle, 0, f"could not call {uri}: {exc.reason}")
            return
        handle.call_id = call.getId()
        if not handle.ended:  # (a call that failed inside makeCall is among the ended already)
            self._track(call)

    def _account_host(self, account: Any) -> str:
        """The host of `account`'s own URI: a trunk's host, or this server's address."""
        if isinstance(account, Registration):
            return next(t.host for t in self.config.trunks if t.name == account.name)
        return f"{self.host}:{self.port}"

    def _notify(self, fn: Callable[..., None], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)


def _malformed(rdata: Any) -> str | None:
    """Why this INVITE gets a 400 (RFC 3261), or None; PJSIP's parser is lenient."""
    try:
        message = str(rdata.wholeMsg)
    except UnicodeError:  # bytes that are not UTF-8: answered, stored escaped
        return None
    return sip_check.problem(message)


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, server: SipServer) -> None:
        super().__init__()
        self.server = server

    def onIncomingCall(self, prm: Any) -> None:
        try:
            self.server._incoming(self, prm)
        except Exception:  # an exception escaping into PJSIP aborts the process
            log.exception("incoming call failed")
