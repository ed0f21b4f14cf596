"""Many callees behind one pjsua2 UAS, for outbound campaigns: each called
number (the user part of the To URI) gets the answer a script gives it.

    python -m tests.sip_callees --script '{"+14155550101": "answer", "+14155550102": 486}'

"answer": 200, then hang up after --hold seconds; "ring": 180 and never
answer (the caller cancels); a number: that final status; an object
{"play": WAV, "record": WAV, "hold": s} (each optional): answer, play the WAV
into the call (e.g. a voicemail greeting and its beep), record what the call
brings in, hang up after "hold" seconds (else --hold). Numbers not in the
script are answered. Prints "listening PORT", then, on SIGTERM or after
--seconds, one JSON line: {"invites": {number: n}, "most_at_once": {number: n},
"most_calls": n, "froms": {number: [the From URI of each INVITE]}}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
import traceback
from collections import Counter
from typing import Any

import pjsua2 as pj

from tests.sip_raw import from_uri


def number_of(uri: str) -> str:
    inner = uri.split("<", 1)[-1].split(">", 1)[0]
    return inner.split(":", 1)[-1].split("@", 1)[0]


class Call(pj.Call):  # type: ignore[misc]
    def __init__(self, account: Callees, call_id: int, number: str) -> None:
        super().__init__(account, call_id)
        self.account = account
        self.number = number
        self.answered_at: float | None = None
        self.over = False
        self.media: Any = None
        self.player: Any = None
        self.recorder: Any = None
        self.playing = False  # play_and_record ran

    def onCallState(self, prm: Any) -> None:
        if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.over:
            self.over = True
            self.account.live[self.number] -= 1

    def onCallMediaState(self, prm: Any) -> None:
        if self.media is None:
            self.media = self.getAudioMedia(-1)

    def play_and_record(self, play: str | None, record: str | None) -> None:
        """Once the media is up: play `play` into the call, record it into `record`."""
        self.playing = True
        if record:
            self.recorder = pj.AudioMediaRecorder()
            self.recorder.createRecorder(record)
            self.media.startTransmit(self.recorder)
        if play:
            self.player = pj.AudioMediaPlayer()
            self.player.createPlayer(play, pj.PJMEDIA_FILE_NO_LOOP)
            self.player.startTransmit(self.media)


class Callees(pj.Account):  # type: ignore[misc]
    def __init__(self, script: dict[str, Any]) -> None:
        super().__init__()
        self.script = script
        self.calls: list[Call] = []  # every pj.Call stays referenced until libDestroy
        self.invites: Counter[str] = Counter()
        self.froms: dict[str, list[str]] = {}
        self.live: Counter[str] = Counter()
        self.most_at_once: Counter[str] = Counter()
        self.most_calls = 0

    def onIncomingCall(self, prm: Any) -> None:
        try:
            call = Call(self, prm.callId, "")
            number = call.number = number_of(call.getInfo().localUri)
            self.froms.setdefault(number, []).append(from_uri(str(prm.rdata.wholeMsg)))
            self.calls.append(call)
            self.invites[number] += 1
            self.live[number] += 1
            self.most_at_once[number] = max(self.most_at_once[number], self.live[number])
            self.most_calls = max(self.most_calls, sum(self.live.values()))
            behaviour = self.script.get(number, "answer")
            op = pj.CallOpParam()
            op.statusCode = 180
            call.answer(op)
            if behaviour == "answer" or isinstance(behaviour, dict):
                op.statusCode = 200
                call.answer(op)
                call.answered_at = time.monotonic()
            elif behaviour != "ring":
                op.statusCode = int(behaviour)
                call.hangup(op)
        except Exception:
            traceback.print_exc(file=sys.stdout)

    def tick(self, now: float, hold: float) -> None:
        """Start each answered call's playing and recording; end those held long enough."""
        for call in self.calls:
            behaviour = self.script.get(call.number, "answer")
            plan = behaviour if isinstance(behaviour, dict) else {}
            if plan and call.media is not None and not call.playing and not call.over:
                call.play_and_record(plan.get("play"), plan.get("record"))
            held = now - call.answered_at if call.answered_at is not None else 0.0
            if not call.over and held > float(plan.get("hold", hold)):
                call.answered_at = None
                with contextlib.suppress(pj.Error):
                    call.hangup(pj.CallOpParam(True))

    def release(self) -> None:
        """Before libDestroy: no pj object may outlive it (the recordings' WAV
        headers are written as their recorders go)."""
        for call in self.calls:
            call.player = call.recorder = call.media = None
        self.calls.clear()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--script", default="{}", help="JSON: number -> answer | ring | code")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds an answered call lasts")
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.uaConfig.maxCalls = 32
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    ep.libInit(cfg)
    transport = pj.TransportConfig()
    transport.boundAddress = "127.0.0.1"
    transport_id = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    ep.audDevManager().setNullDev()
    ep.libStart()
    account = Callees(json.loads(args.script))
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:callees@127.0.0.1"
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    account.create(acfg, True)
    port = ep.transportGetInfo(transport_id).localName.rsplit(":", 1)[1]
    print(f"listening {port}", flush=True)
    start = time.monotonic()
    while not stop and time.monotonic() - start < args.seconds:
        ep.libHandleEvents(10)
        account.tick(time.monotonic(), args.hold)
    result = {
        "invites": dict(account.invites),
        "most_at_once": dict(account.most_at_once),
        "most_calls": account.most_calls,
        "froms": account.froms,
    }
    ep.hangupAllCalls()
    for _ in range(50):
        ep.libHandleEvents(10)
    account.release()
    account.shutdown()
    ep.libDestroy()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
