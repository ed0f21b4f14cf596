"""The edge's trunk state without Kamailio: what the uac module's records and
the registrars' answers mean, and the RPC client's errors against a real
unix datagram socket that never answers. The integration test with a real
Kamailio is test_cluster_lifecycle.py's registration-trunk test."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from mediaserver.cluster import kamailio_cfg
from mediaserver.cluster.edge_rpc import EdgeRpcError, call
from mediaserver.cluster.edge_trunks import registrar_replies, trunk_states
from mediaserver.transports.sip import TrunkStatus

NOW = 1_800_000_000.0


def record(flags: int, timer_expires: int = 0, diff_expires: int = 0) -> dict[str, Any]:
    """One uac.reg_dump record (the fields read), as Kamailio 5.6 sends it."""
    return {
        "l_uuid": "carrier",
        "r_username": "alice",
        "r_domain": "127.0.0.1:5099",
        "flags": flags,
        "timer_expires": timer_expires,
        "diff_expires": diff_expires,
    }


def replies(value: str) -> dict[str, tuple[int, float, str]]:
    dump = [{"entry": 3, "size": 1, "slot": [{"name": "sip:alice@127.0.0.1:5099", "value": value}]}]
    return registrar_replies(dump)


def state(rec: dict[str, Any], answers: dict[str, Any], before: TrunkStatus) -> TrunkStatus:
    return trunk_states(("carrier",), [rec], answers, {"carrier": before}, NOW)["carrier"]


def test_a_trunk_online_is_registered_with_the_registrars_answer() -> None:
    at = int(NOW) - 10
    got = state(record(20, at + 300, 290), replies(f"200 {at} OK"), TrunkStatus())
    assert got == TrunkStatus(registered=True, code=200, reason="OK", expires=300, at=at)


def test_a_refusal_is_not_registered_and_says_the_code() -> None:
    got = state(record(16), replies(f"403 {int(NOW)} Forbidden"), TrunkStatus())
    assert not got.registered and (got.code, got.reason) == (403, "Forbidden")


def test_a_refresh_under_way_keeps_the_registration_until_it_expires() -> None:
    before = TrunkStatus(registered=True, code=200, reason="OK", expires=300, at=NOW - 100)
    # flags 2|16: the uac module clears "online" while it re-registers (a 401 first)
    assert state(record(18), replies(f"401 {int(NOW)} Unauthorized"), before) == before
    expired = TrunkStatus(registered=True, code=200, reason="OK", expires=60, at=NOW - 100)
    assert not state(record(18), replies(f"401 {int(NOW)} Unauthorized"), expired).registered


def test_a_registrar_that_stops_answering_is_a_408() -> None:
    got = state(record(16), replies(f"200 {int(NOW) - 400} OK"), TrunkStatus())
    assert not got.registered and got.code == 408 and "did not answer" in got.reason
    assert state(record(16), {}, TrunkStatus()).code == 408
    assert state(record(0), {}, TrunkStatus()).reason == "not registered yet"
    assert state(record(18), {}, TrunkStatus()).reason == "registering"


def test_a_trunk_the_edge_does_not_know_is_not_registered() -> None:
    got = trunk_states(("other",), [record(20, int(NOW) + 300, 300)], {}, {}, NOW)["other"]
    assert not got.registered and "no such registration" in got.reason


def test_the_rpc_socket_path_fits_a_socket_address(tmp_path: Path) -> None:
    assert kamailio_cfg.rpc_socket(tmp_path) == tmp_path.resolve() / "rpc.sock"
    deep = tmp_path / ("d" * 120)
    path = kamailio_cfg.rpc_socket(deep)
    assert len(str(path)) < 100 and path == kamailio_cfg.rpc_socket(deep)


def test_a_silent_or_absent_edge_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EdgeRpcError, match="No such file"):
        asyncio.run(call(tmp_path / "absent.sock", "uac.reg_dump"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as silent:
        silent.bind(str(tmp_path / "silent.sock"))
        with pytest.raises(EdgeRpcError, match=r"did not answer uac\.reg_dump in 0\.2 s"):
            asyncio.run(call(tmp_path / "silent.sock", "uac.reg_dump", within=0.2))
        assert b'"method": "uac.reg_dump"' in silent.recv(4096)
