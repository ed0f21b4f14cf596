"""What an outside probe did to the SIP side (issue 21), replayed against a
real `mediaserver serve`: malformed INVITEs, log injection, INVITE floods,
idle TCP connections, and a seeded fuzz of start lines, headers and SDP. The
server answers or drops each, stays healthy, and a normal call completes."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.server import Server, free_sip_port, start_server, stop_server
from tests.sip_raw import Peer, Request, invite, invite_answers, options, status

pytestmark = pytest.mark.integration
TCP_IDLE_SECONDS = 4
NUMBER = "+14155550123"  # a caller's number: only its last digits may reach the log


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("hostile"), sip_config=f"tcp_idle_seconds = {TCP_IDLE_SECONDS}"
    )
    yield srv
    stop_server(srv)


def normal_call(server: Server, seconds: float = 3.0) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "tests.sip_caller", "--to", server.uri, "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def options_answered(server: Server, transport: str = "UDP") -> bool:
    peer = Peer(server.sip_port, transport)
    try:
        return peer.final(options(server.sip_port, peer.local, transport), timeout=5) == 200
    finally:
        peer.close()


def set_header(name: str, value: str) -> Callable[[Request], None]:
    def mutate(request: Request) -> None:
        request.headers = [(n, value if n == name else v) for n, v in request.headers]

    return mutate


def add_header(name: str, value: str) -> Callable[[Request], None]:
    return lambda request: request.headers.append((name, value))


def lower_method(request: Request) -> None:
    request.start = request.start.replace("INVITE", "invite", 1)


def untagged_from(request: Request) -> None:
    request.headers = [(n, v.split(";tag=")[0] if n == "From" else v) for n, v in request.headers]


def long_content_length(request: Request) -> None:
    request.content_length = len(request.body) + 40


MALFORMED = {
    "lowercase method": lower_method,
    "two Call-IDs": add_header("Call-ID", "second-call-id"),
    "two CSeqs": add_header("CSeq", "2 INVITE"),
    "two Froms": add_header("From", "<sip:other@127.0.0.1>;tag=other"),
    "From without a tag": untagged_from,
    "Content-Length past the body": long_content_length,
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_a_malformed_invite_gets_400(server: Server, case: str, transport: str) -> None:
    if case == "Content-Length past the body" and transport == "TCP":
        pytest.skip("on a stream the Content-Length frames the message: it waits for the rest")
    peer = Peer(server.sip_port, transport)
    request = invite(server.sip_port, peer.local, transport)
    MALFORMED[case](request)
    try:
        assert peer.final(request) == 400, server.tail()
    finally:
        peer.close()


def test_a_well_formed_hand_built_invite_is_answered(server: Server) -> None:
    """The checks above refuse only what is malformed."""
    for transport in ("UDP", "TCP"):
        peer = Peer(server.sip_port, transport)
        try:
            assert peer.final(invite(server.sip_port, peer.local, transport)) == 200
        finally:
            peer.close()


def test_a_cseq_method_mismatch_is_refused_by_pjsip_itself(server: Server) -> None:
    """PJSIP refuses it before the server's code sees it (its transaction layer
    will not take the request): 500, not RFC 3261's 400. Never answered 200."""
    peer = Peer(server.sip_port)
    request = invite(server.sip_port, peer.local)
    set_header("CSeq", "1 BYE")(request)
    try:
        assert peer.final(request) in (0, 400, 500)
    finally:
        peer.close()
    assert server.alive()


def test_pjsip_log_lines_are_masked_json_and_carry_no_packet(server: Server) -> None:
    """PJSIP logs a packet it cannot parse at level 1, the packet included: it
    must come out as one masked JSON entry, without the packet, so a forged
    log line in the body stays text and the caller's number stays masked."""
    since = server.mark()
    forged = json.dumps({"ts": "2026-01-01T00:00:00Z", "level": "error", "logger": "forged"})
    packet = (
        f"INVITE sip:agent@127.0.0.1:{server.sip_port} SIP/2.0\r\n"
        f"From: <sip:{NUMBER}@127.0.0.1>;tag=1\r\nTo: <sip:agent@127.0.0.1>\r\n"
        "Call-ID: no-cseq\r\nContent-Length: 80\r\n\r\n" + f"\n{forged}\n\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(packet.encode(), ("127.0.0.1", server.sip_port))
    server.wait_for(r"Error processing packet", since=since)
    time.sleep(1.5)  # the PJSIP log's writer thread hands entries over every second
    written = server.log.read_text(errors="replace")[since:]
    assert NUMBER[1:] not in written
    for line in written.splitlines():
        if line.strip():
            entry = json.loads(line)  # every line one JSON object
            assert entry["logger"] != "forged"
    pjsip = [json.loads(line) for line in written.splitlines() if '"pjsip"' in line]
    assert any("Error processing packet" in entry["msg"] for entry in pjsip)
    assert not any("forged" in entry["msg"] for entry in pjsip)  # the body is not logged


def sipp_calls(
    server: Server, tmp_path: Path, calls: int, rate: int, pause_ms: int
) -> Counter[int]:
    """sipp's uac scenario at `rate` INVITEs/s, calls of `pause_ms`: the final
    answers to the INVITEs, by status."""
    messages = tmp_path / f"sipp-{pause_ms}.log"
    subprocess.run(
        [
            "sipp",
            "-sn",
            "uac",
            "-m",
            str(calls),
            "-r",
            str(rate),
            "-l",
            "40",
            "-d",
            str(pause_ms),
            "-i",
            "127.0.0.1",
            "-p",
            str(free_sip_port()),
            "-nostdin",
            "-timeout",
            "60",
            "-trace_msg",
            "-message_file",
            str(messages),
            f"127.0.0.1:{server.sip_port}",
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    return invite_answers(messages)


def test_an_invite_flood_gets_no_603_and_short_calls_do_not_crash_the_server(
    server: Server, tmp_path: Path
) -> None:
    """200 INVITEs/s: those beyond the 4 lines are busy, never declined because
    a call that just ended took a new call's pjsua index with it; and calls of
    20 ms at that rate do not run PJSIP's socket table dry (an abort)."""
    declined = sipp_calls(server, tmp_path, calls=600, rate=200, pause_ms=300)
    assert server.proc.poll() is None, server.tail()
    assert declined[200] >= 8 and declined[603] == 0, declined
    short = sipp_calls(server, tmp_path, calls=400, rate=200, pause_ms=20)
    assert server.proc.poll() is None, server.tail()
    assert short[200] >= 8 and short[603] == 0, short
    assert server.alive(), server.tail()


def test_idle_tcp_connections_time_out_and_a_new_caller_is_served(server: Server) -> None:
    idle = []
    for _ in range(200):
        s = socket.socket()
        s.settimeout(10)
        try:
            s.connect(("127.0.0.1", server.sip_port))
        except OSError:
            s.close()
            continue
        idle.append(s)
    served = False
    deadline = time.monotonic() + 30  # bounded wait, not a speed claim
    while not served and time.monotonic() < deadline:
        try:
            served = options_answered(server, "TCP")
        except OSError:
            time.sleep(0.5)
    assert served, server.tail()
    # and every idle connection is closed by the server (EOF or reset here)
    deadline = time.monotonic() + TCP_IDLE_SECONDS * 4 + 20
    open_ones = list(idle)
    while open_ones and time.monotonic() < deadline:
        still = []
        for s in open_ones:
            s.settimeout(0.01)
            try:
                if s.recv(1) == b"":
                    s.close()
                    continue
            except TimeoutError:
                pass
            except OSError:
                s.close()
                continue
            still.append(s)
        open_ones = still
        time.sleep(0.5)
    for s in open_ones:
        s.close()
    assert not open_ones, f"{len(open_ones)} of {len(idle)} idle connections still open"
    assert server.alive()


# -- the seeded fuzz ---------------------------------------------------------

JUNK = ["", " ", "\x00", "é", "\udce9", "a" * 3000, "%00", "<>", ";;;", "\t", "-1", "99999999999"]


def fuzz_case(rng: random.Random, port: int, local: tuple[str, int], transport: str) -> str:
    request = invite(port, local, transport)
    area = rng.choice(["start", "headers", "sdp", "bytes"])
    if area == "start":
        method = rng.choice(["INVITE", "invite", "OPTIONS", "BYE", "ACK", "FOO", "", "INV ITE"])
        uri = rng.choice(
            [
                f"sip:agent@127.0.0.1:{port}",
                "sip:",
                "*",
                "tel:+1555",
                "sip:%00@x",
                "sip:" + "a" * 2000,
            ]
        )
        version = rng.choice(["SIP/2.0", "SIP/3.0", "SIP/2", "HTTP/1.1", ""])
        request.start = rng.choice([f"{method} {uri} {version}", f"{method}  {uri}", method + uri])
        if method and method.upper() not in ("INVITE",):
            request.headers = [(n, f"1 {method}" if n == "CSeq" else v) for n, v in request.headers]
    elif area == "headers":
        for _ in range(rng.randint(1, 3)):
            names = [n for n, _ in request.headers]
            action = rng.choice(["drop", "dup", "junk", "odd"])
            name = rng.choice(names)
            if action == "drop":
                request.headers = [(n, v) for n, v in request.headers if n != name]
            elif action == "dup":
                request.headers.append((name, dict(request.headers).get(name, "x")))
            elif action == "junk":
                set_header(name, rng.choice(JUNK))(request)
            else:
                request.headers.append(
                    rng.choice(
                        [
                            ("Max-Forwards", "0"),
                            ("Content-Length", rng.choice(["-1", "abc", "99999999"])),
                            (
                                "CSeq",
                                rng.choice(["-1 INVITE", "1", "x INVITE", "4294967296 INVITE"]),
                            ),
                            ("Via", "SIP/2.0/UDP"),
                            ("X-Long", "b" * rng.choice([100, 4000])),
                            ("No colon here", ""),
                            (" Folded", "value"),
                        ]
                    )
                )
    elif area == "sdp":
        lines = request.body.split("\r\n")
        i = rng.randrange(len(lines))
        lines[i] = rng.choice(
            [
                "m=audio 0 RTP/AVP 0",
                "m=audio 70000 RTP/AVP 0",
                "m=audio 9 FOO/BAR 0",
                "m=audio 9 RTP/AVP",
                "m=video 9 RTP/AVP 96",
                "c=IN IP4 999.1.1.1",
                "c=IN IP6 ::1",
                "a=rtpmap:0 " + "x" * 500,
                "a=" + "y" * 3000,
                "v=1",
                "",
                "garbage",
            ]
        )
        if rng.random() < 0.3:
            lines = lines[: rng.randrange(len(lines))]
        request.body = "\r\n".join(lines)
    else:
        raw = bytearray(str(request).encode("utf-8", "surrogateescape"))
        for _ in range(rng.randint(1, 20)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return raw.decode("utf-8", "surrogateescape")
    return str(request)


def test_a_seeded_fuzz_of_start_lines_headers_and_sdp_leaves_the_server_healthy(
    server: Server,
) -> None:
    rng = random.Random(21)
    answers: Counter[int] = Counter()
    deadline = time.monotonic() + 240
    for i, transport in enumerate(["UDP"] * 200 + ["TCP"] * 100):
        assert time.monotonic() < deadline, f"fuzz ran out of time at case {i}"
        try:
            peer = Peer(server.sip_port, transport)
        except OSError:
            time.sleep(0.2)
            continue
        try:
            text = fuzz_case(rng, server.sip_port, peer.local, transport)
            call_id = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in text.split("\r\n")
                    if line.startswith("Call-ID:")
                ),
                "",
            )
            try:
                peer.send(text)
                replies = peer.responses(call_id, 0.25) if call_id else []
            except OSError:
                replies = []
            for reply in replies:
                assert status(reply) >= 100, reply[:200]
            final = status(replies[-1]) if replies else 0
            answers[final] += 1
            if 200 <= final < 300 and text.startswith("INVITE "):
                request = Request(text.split("\r\n", 1)[0], [])
                request.headers = [
                    (line.split(":", 1)[0], line.split(":", 1)[1].strip())
                    for line in text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
                    if ":" in line
                ]
                peer.end_call(request, replies[-1])
        finally:
            peer.close()
        if i % 50 == 49:
            assert server.proc.poll() is None, server.tail()
    assert server.alive(), server.tail()
    assert options_answered(server, "UDP") and options_answered(server, "TCP")
    assert sum(answers.values()) >= 250, answers
    assert normal_call(server)["connected"], server.tail()
