"""A flood of INVITEs that the server must refuse, sent straight at it (no
edge in front): every one answered, none aborts the process. Before the
refusals were held over a round of polling, 100 refused INVITEs a second
(an address off the trunk) took and closed RTP sockets faster than PJSIP's
socket table lets their keys cool: pj_ioqueue_register_sock2's assertion
aborted the server within a second."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import Server, free_sip_port, start_server, stop_server
from tests.sip_raw import invite_answers

pytestmark = pytest.mark.integration

RATE = 100  # INVITEs a second
SECONDS = 8


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path)  # [sip] allow = ["127.0.0.1/32"]
    yield srv
    stop_server(srv)


def flood(server: Server, tmp_path: Path, source: str) -> Counter[int]:
    """sipp's uac scenario from `source` at RATE INVITEs/s for SECONDS: the
    final answers to the INVITEs, by status."""
    messages = tmp_path / "sipp.log"
    command = ["sipp", "-sn", "uac", "-m", str(RATE * SECONDS), "-r", str(RATE), "-l", "2000"]
    command += ["-i", source, "-p", str(free_sip_port()), "-nostdin", "-timeout", "25"]
    command += ["-trace_msg", "-message_file", str(messages), f"127.0.0.1:{server.sip_port}"]
    subprocess.run(command, capture_output=True, timeout=60, check=False, cwd=tmp_path)
    return invite_answers(messages)


def test_a_flood_of_off_trunk_invites_is_refused_and_the_server_lives(
    server: Server, tmp_path: Path
) -> None:
    codes = flood(server, tmp_path, "127.0.0.2")  # loopback, but off the trunk's 127.0.0.1/32
    assert server.alive(), server.tail()
    assert codes[403] > 0 and set(codes) <= {403, 486}, codes  # 486: pjsua, every line held
    assert sum(codes.values()) >= RATE * SECONDS, codes  # each INVITE had its answer
    assert "pj_ioqueue" not in server.tail(200)
    out = subprocess.run(
        [sys.executable, "-m", "tests.sip_caller", "--to", server.uri, "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1])["connected"]  # a trunk call still
