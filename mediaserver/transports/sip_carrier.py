"""What carriers expect of a SIP peer and PJSIP does not do by default.

- To and From are copied as they came (RFC 3261 8.2.6.2): PJSIP drops the port
  from a From/To URI when it prints one unless `pjsip_cfg()->endpt.
  allow_port_in_fromto_hdr` is set, a run-time switch pjsua2 does not expose;
  the wheel exports the variable behind it (`pjsip_sip_cfg_var`), so it is set
  through ctypes.
- The SDP says its packet time (`a=ptime:20`): some carriers assume 30 ms or
  transcode without it.
"""

from __future__ import annotations

import ctypes
import logging

import pjsua2 as pj

log = logging.getLogger(__name__)

PTIME_MS = 20


def keep_ports_in_from_and_to() -> bool:
    """Set PJSIP's allow_port_in_fromto_hdr (the first field of pjsip_cfg_t,
    PJSIP 2.x); False where the wheel does not export the variable."""
    try:
        library = ctypes.CDLL(pj._pjsua2.__file__)
        ctypes.c_int.in_dll(library, "pjsip_sip_cfg_var").value = 1
    except (AttributeError, OSError, ValueError):
        log.warning("this pjsua2 build hides pjsip_cfg: responses drop the To URI's port")
        return False
    return True


def with_ptime(sdp: str, ptime: int = PTIME_MS) -> str:
    """`sdp` with `a=ptime` closing each audio section that has none."""
    lines = sdp.split("\r\n")
    trailer = lines.pop() if lines and lines[-1] == "" else None
    out: list[str] = []
    audio = has_ptime = False
    for line in lines:
        if line.startswith("m="):
            if audio and not has_ptime:
                out.append(f"a=ptime:{ptime}")
            audio, has_ptime = line.startswith("m=audio "), False
        elif line.startswith("a=ptime:"):
            has_ptime = True
        out.append(line)
    if audio and not has_ptime:
        out.append(f"a=ptime:{ptime}")
    if trailer is not None:
        out.append(trailer)
    return "\r\n".join(out)
