"""A real pjsua2 user agent for tests: calls a URI, plays a WAV into the
call at a given moment, records what it hears, hangs up.

    python -m tests.sip_caller --to sip:agent@127.0.0.1:5060 --play q.wav \
        --play-at 5 --record heard.wav --seconds 20

Prints one JSON line: {"connected": bool, "status": int, "reason": str}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import traceback
from typing import Any

import pjsua2 as pj

from tests.sip_raw import from_uri


class Callee(pj.Account):  # type: ignore[misc]
    def __init__(self, respond: int) -> None:
        super().__init__()
        self.respond = respond
        self.call: Call | None = None
        self.invites = 0
        self.froms: list[str] = []  # the From URI of each INVITE
        self.refused: list[Call] = []  # every pj.Call stays referenced until libDestroy

    def onIncomingCall(self, prm: Any) -> None:
        try:
            self.invites += 1
            self.froms.append(from_uri(str(prm.rdata.wholeMsg)))
            call = Call(self, prm.callId)
            op = pj.CallOpParam()
            op.statusCode = 180
            call.answer(op)
            op.statusCode = self.respond
            if self.respond == 200:
                call.answer(op)
            else:
                call.hangup(op)
                self.refused.append(call)
            self.call = call
        except Exception:
            traceback.print_exc(file=sys.stdout)


class Call(pj.Call):  # type: ignore[misc]
    def __init__(self, account: Any, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.account = account
        self.transferred: Call | None = None  # the call a REFER made us place
        self.connected = False
        self.disconnected = False
        self.status = 0
        self.reason = ""
        self.media: Any = None
        self.digits: list[str] = []

    def onCallState(self, prm: Any) -> None:
        info = self.getInfo()
        self.status, self.reason = info.lastStatusCode, info.lastReason
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.connected = True
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True

    def onDtmfDigit(self, prm: Any) -> None:
        self.digits.append(prm.digit)  # keys the far end pressed (RFC 2833)

    def onCallMediaState(self, prm: Any) -> None:
        if self.media is None:
            self.media = self.getAudioMedia(-1)

    def onCallTransferRequest(self, prm: Any) -> None:
        self.transferred = Call(self.account)
        prm.newCall = self.transferred


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--to", help="call this URI")
    parser.add_argument(
        "--listen", type=int, help="instead, wait for a call on this UDP port (0: any; printed)"
    )
    parser.add_argument(
        "--respond", type=int, default=200, help="with --listen: answer with this code"
    )
    parser.add_argument(
        "--wait", type=float, default=90.0, help="with --listen: wait this long for the call"
    )
    parser.add_argument("--play")
    parser.add_argument("--play-at", type=float, default=0.0)
    parser.add_argument("--record")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--dtmf", default="", help="digits to send (RFC 2833) after play-at")
    parser.add_argument("--codec", default="", help="offer only this codec, e.g. PCMU/8000")
    parser.add_argument("--bind", default="127.0.0.1", help="local address to call from")
    args = parser.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    ep.libInit(cfg)
    transport = pj.TransportConfig()
    transport.port = args.listen or 0
    transport.boundAddress = args.bind
    transport_id = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    tcp = pj.TransportConfig()
    tcp.boundAddress = args.bind
    ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, tcp)  # for sip:...;transport=tcp
    ep.audDevManager().setNullDev()
    if args.codec:
        for codec in ep.codecEnum2():
            wanted = codec.codecId.lower().startswith(args.codec.lower())
            ep.codecSetPriority(codec.codecId, 255 if wanted else 0)
    ep.libStart()
    account = Callee(args.respond) if args.listen is not None else pj.Account()
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:caller@{args.bind}"
    acfg.mediaConfig.transportConfig.boundAddress = args.bind
    acfg.mediaConfig.transportConfig.port = 0
    account.create(acfg, True)

    start = time.monotonic()
    if args.listen is not None:
        port = ep.transportGetInfo(transport_id).localName.rsplit(":", 1)[1]
        print(f"listening {port}", flush=True)
        while account.call is None and time.monotonic() - start < args.wait:
            ep.libHandleEvents(10)
        if account.call is None:
            print(json.dumps({"connected": False, "status": 0, "reason": "no call came"}))
            return 0
        call = account.call
        start = time.monotonic()
    else:
        call = Call(account)
        call.makeCall(args.to, pj.CallOpParam(True))
    player = recorder = None
    played = sent = False
    refusing = args.listen is not None and args.respond != 200  # every INVITE, for a while
    while time.monotonic() - start < args.seconds and (refusing or not call.disconnected):
        ep.libHandleEvents(10)
        if call.media is not None and recorder is None and args.record:
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(args.record)
            call.media.startTransmit(recorder)
        now = time.monotonic() - start
        if call.media is not None and not played and args.play and now >= args.play_at:
            player = pj.AudioMediaPlayer()
            player.createPlayer(args.play, pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(call.media)
            played = True
        if call.connected and not sent and args.dtmf and now >= args.play_at:
            call.dialDtmf(args.dtmf)
            sent = True
    connected = call.connected
    rtp_received = 0
    if call.media is not None and not call.disconnected:
        with contextlib.suppress(pj.Error):
            rtp_received = call.getStreamStat(0).rtcp.rxStat.pkt
    if not call.disconnected:
        with contextlib.suppress(pj.Error):
            call.hangup(pj.CallOpParam(True))
        for _ in range(100):
            ep.libHandleEvents(10)
            if call.disconnected:
                break
    result = {
        "connected": connected,
        "status": call.status,
        "reason": call.reason,
        "rtp_received": rtp_received,  # RTP packets the call got from the far end
        "digits_received": "".join(call.digits),
    }
    if isinstance(account, Callee):
        result["invites"] = account.invites
        result["froms"] = account.froms
    ep.hangupAllCalls()  # a call a REFER made too; then let PJSIP finish them
    for _ in range(50):
        ep.libHandleEvents(10)
    del player, recorder
    call.transferred = None
    call = None
    if isinstance(account, Callee):
        account.call = None  # no pj.Call may outlive libDestroy
        account.refused.clear()
    account.shutdown()
    ep.libDestroy()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
