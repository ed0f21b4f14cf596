"""Checking a browser's WebRTC offer before aiortc answers it, the errors an
offer can meet, and keeping ICE host candidates to the configured addresses."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection

OPUS_RTPMAP = re.compile(r"a=rtpmap:(\d+) opus/48000", re.IGNORECASE)


class OfferError(ValueError):
    """The offer cannot be answered; the message says why (HTTP 400)."""


class Busy(RuntimeError):
    """Every WebRTC call slot is taken (HTTP 503)."""


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
