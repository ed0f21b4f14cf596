"""Creates and deletes the server's call ports (sip_call.Port) while PJSIP's
conference bridge ticks them, as a flood of short calls does.

    python -m tests.port_churn --seconds 8 [--collect]

--collect lets Python's garbage collection delete them (the way that crashed
the server) instead of Port.destroy. Prints how many ports it made; exits 0.
"""

from __future__ import annotations

import argparse
import time

import pjsua2 as pj

from mediaserver.transports.call import RATE, CallMedia
from mediaserver.transports.sip_call import Port

ALIVE = 30  # ports in the bridge at once, like the calls retired in the grace period


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--collect", action="store_true")
    args = parser.parse_args()
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.clockRate = cfg.medConfig.sndClockRate = RATE
    cfg.medConfig.sndAutoCloseTime = -1
    ep.libInit(cfg)
    devices = ep.audDevManager()
    devices.setNullDev()
    ep.libStart()
    ports: list[Port] = []
    made = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline or ports:
        if time.monotonic() < deadline:
            port = Port(CallMedia())
            port.create(f"churn{made}")
            devices.getCaptureDevMedia().startTransmit(port)
            port.startTransmit(devices.getPlaybackDevMedia())
            ports.append(port)
            made += 1
        if len(ports) > ALIVE or time.monotonic() >= deadline:
            old = ports.pop(0)
            old.live = False
            if not args.collect:
                old.destroy()
            del old
        ep.libHandleEvents(1)
    ep.libDestroy()
    print(made, flush=True)


if __name__ == "__main__":
    main()
