"""Issue 21, the HTTP, WebRTC and store defects an outside probe found, each
replayed against one real `mediaserver serve` (raw sockets where a client
library would refuse to misbehave, a raw UDP INVITE, aiortc offers)."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.server import Server, start_server, stop_server
from tests.webrtc_peer import RATE, Peer

pytestmark = pytest.mark.integration

MAX_CALLS = 3
AUTH_FAILURES = 30  # more than the wrong credentials the other tests send
CONFIG = f"""
[webrtc]
host_addresses = ["127.0.0.1"]
max_calls = {MAX_CALLS}
connect_timeout_seconds = 4
media_timeout_seconds = 3
[api]
request_timeout_seconds = 2
auth_failures = {AUTH_FAILURES}
auth_failure_window_seconds = 600
store_numbers = "masked"
"""


class Running:
    """The module's server; the last test restarts it after a SIGKILL."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = start_server(root, CONFIG)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    holder = Running(tmp_path_factory.mktemp("hostile"))
    yield holder
    stop_server(holder.server)


@pytest.fixture(scope="module")
def server(running: Running) -> Server:
    return running.server


@pytest.fixture(scope="module")
def token(server: Server) -> str:
    return server.cli("tokens", "create")


def raw_http(port: int, request: bytes, wait: float = 8.0) -> bytes:
    """Send `request` as it is; what comes back until the server closes or `wait` passes."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(request)
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and b"Connection: close" not in answer:
                    break
        except TimeoutError:
            pass
    return answer


def status_of(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    return int(match.group(1)) if match else 0


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


async def offers(count: int) -> list[dict[str, str]]:
    peers = [Peer(silence(1)) for _ in range(count)]
    made = await asyncio.gather(*(p.offer() for p in peers))
    await asyncio.gather(*(p.close() for p in peers))
    return list(made)


# -- 1. a malformed credential is a 401, never a 500 ---------------------------------
def test_a_non_ascii_credential_is_refused_with_401(server: Server, token: str) -> None:
    base = f"http://127.0.0.1:{server.http_port}"
    offer = asyncio.run(offers(1))[0]
    for credential in (b"a.\xe9", b"\xe9", b"msk_\xe9_\xe9"):
        headers = {"Authorization": b"Bearer " + credential}
        assert httpx.get(f"{base}/webrtc/config", headers=headers).status_code == 401
        reply = httpx.post(f"{base}/webrtc/offer", json=offer, headers=headers)
        assert reply.status_code == 401, reply.text
        assert httpx.get(f"{base}/calls", headers=headers).status_code == 401
    assert httpx.get(
        f"{base}/webrtc/config", headers={"Authorization": f"Bearer {token}"}
    ).is_success


# -- 7. bodies wait for credentials, and have a size and a deadline -----------------
def test_a_body_is_not_read_before_the_credential_is_checked(server: Server) -> None:
    """Headers announcing a body (within the route's cap) that never comes: the
    refusal comes without waiting for it; 4 MB is refused unread too."""
    for path, credential in (("/agents", ""), ("/agents", "msk_wrong_key"), ("/webrtc/offer", "")):
        auth = f"Authorization: Bearer {credential}\r\n" if credential else ""
        for length, refusals in ((10_000, {401}), (4_000_000, {401, 413})):
            head = (
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}"
                f"Content-Length: {length}\r\n\r\n"
            )
            answer = raw_http(server.http_port, head.encode())
            assert status_of(answer) in refusals, (path, length, answer[:200])


def test_a_body_over_its_routes_cap_gets_413_unread(server: Server) -> None:
    for path, length in (("/agents", 4_000_000), ("/tokens", 100_000)):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {server.key}\r\nContent-Length: {length}\r\n\r\n"
        )
        answer = raw_http(server.http_port, head.encode())
        assert status_of(answer) == 413, (path, answer[:200])
    prompt = "\u00e9" * 20_000  # the longest prompt an agent may have, well within its route's cap
    made = server.post("/agents", {"name": "long", "system_prompt": prompt})
    assert made.status_code == 201, made.text


def test_requests_that_trickle_in_are_timed_out(server: Server) -> None:
    # headers that never end: the connection is closed (request_timeout_seconds = 2)
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(1)
        closed = False
        for _ in range(10):
            try:
                closed = s.recv(1024) == b""
                break
            except TimeoutError:
                s.sendall(b"X")  # a byte now and then does not keep it open
            except ConnectionResetError:
                closed = True
                break
        assert closed, "a request with endless headers kept its connection"
    # a body that stops half way: 408
    head = (
        f"POST /tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {server.key}\r\nContent-Length: 100\r\n\r\n"
    )
    answer = raw_http(server.http_port, head.encode() + b'{"agent": ')
    assert status_of(answer) == 408, answer[:200]
    assert server.alive()


def test_wrong_keys_are_throttled_per_source_and_a_right_key_still_works(server: Server) -> None:
    base = f"http://127.0.0.1:{server.http_port}"
    other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    wrong = {"Authorization": "Bearer msk_guess_" + "x" * 32}
    codes = [
        other.get(f"{base}/calls", headers=wrong).status_code for _ in range(AUTH_FAILURES + 5)
    ]
    assert codes[:AUTH_FAILURES] == [401] * AUTH_FAILURES and set(codes[AUTH_FAILURES:]) == {429}
    limited = other.get(f"{base}/calls", headers=wrong)
    assert int(limited.headers["Retry-After"]) >= 1
    right = other.get(f"{base}/calls", headers={"Authorization": f"Bearer {server.key}"})
    assert right.status_code == 200  # an honest client behind the same address
    # wrong call tokens count too, and other addresses are not affected
    assert other.get(f"{base}/webrtc/config", headers=wrong).status_code == 429
    assert httpx.get(f"{base}/calls", headers=wrong).status_code == 401  # from 127.0.0.1
    other.close()


# -- 8. text, offers, the store -------------------------------------------------------
def test_a_lone_surrogate_in_json_is_a_422_not_a_500(server: Server) -> None:
    reply = httpx.post(
        f"http://127.0.0.1:{server.http_port}/agents",
        content=b'{"name": "odd", "greeting": "\\ud800"}',
        headers={"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"},
    )
    assert reply.status_code == 422 and "surrogate" in reply.text, reply.text
    assert server.api("/agents/odd").status_code == 404


def test_offers_nobody_can_secure_or_with_audio_off_are_refused(server: Server, token: str) -> None:
    offer = asyncio.run(offers(1))[0]
    no_fingerprint = re.sub(r"a=fingerprint:[^\r\n]*\r\n", "", offer["sdp"])
    port_zero = re.sub(r"m=audio \d+ ", "m=audio 0 ", offer["sdp"])
    for sdp, words in ((no_fingerprint, "fingerprint"), (port_zero, "port 0")):
        reply = server.post("/webrtc/offer", {**offer, "sdp": sdp}, token=token)
        assert reply.status_code == 400 and words in reply.json()["detail"], reply.text


# -- 4. max_calls holds under offers that arrive together -----------------------------
def test_offers_at_once_never_take_more_than_max_calls(server: Server, token: str) -> None:
    async def burst() -> list[int]:
        made = await offers(MAX_CALLS * 3)
        async with httpx.AsyncClient(timeout=60) as client:
            replies = await asyncio.gather(
                *(
                    client.post(
                        f"http://127.0.0.1:{server.http_port}/webrtc/offer",
                        json=offer,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for offer in made
                )
            )
        return [r.status_code for r in replies]

    since = server.mark()
    codes = asyncio.run(burst())
    assert set(codes) <= {200, 503} and 1 <= codes.count(200) <= MAX_CALLS, codes
    # the unconnected calls give their slots back after connect_timeout_seconds
    answered = codes.count(200)
    server.wait_for(rf"(?s)(ended \(connect_timeout\).*){{{answered}}}", 20, since)


def test_the_call_token_secret_is_a_private_file_not_a_store_row(server: Server) -> None:
    kept = server.data / "call_token_secret"
    assert kept.is_file() and kept.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(server.data / "mediaserver.db") as db:
        rows = db.execute("SELECT key FROM settings WHERE key = 'call_token_secret'").fetchall()
    assert rows == []


# -- 2. a caller whose From is not UTF-8 is served and recorded -----------------------
class RawSipCall:
    """An INVITE over raw UDP with a From display name that is not UTF-8 (a CESU-8
    surrogate), ACKed; hung up with BYE on request."""

    DISPLAY = b"\xed\xa0\xbd"

    def __init__(self, sip_port: int) -> None:
        self.sip_port = sip_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(1.0)
        self.port = self.sock.getsockname()[1]
        self.call_id = secrets.token_hex(8)
        self.tag = secrets.token_hex(4)
        self.to_tag = ""
        self.uri = f"sip:agent@127.0.0.1:{sip_port}"
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))

    def _send(self, method: str, cseq: int, body: bytes = b"", to_tag: str = "") -> None:
        to = f"<{self.uri}>" + (f";tag={to_tag}" if to_tag else "")
        head = (
            f"{method} {self.uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
            "Max-Forwards: 70\r\n"
        ).encode()
        head += b'From: "' + self.DISPLAY + b'" <sip:+15551234567@127.0.0.1>;tag='
        head += self.tag.encode() + b"\r\n"
        head += (
            f"To: {to}\r\nCall-ID: {self.call_id}@127.0.0.1\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:caller@127.0.0.1:{self.port}>\r\n"
        ).encode()
        if body:
            head += b"Content-Type: application/sdp\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n".encode()
        self.sock.sendto(head + body, ("127.0.0.1", self.sip_port))

    def _final(self, cseq: int, timeout: float = 15.0) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536).decode("utf-8", "replace")
            except TimeoutError:
                continue
            code = int(data.split(" ", 2)[1])
            if f"CSeq: {cseq} " in data and code >= 200:
                return code, data
        raise AssertionError("no final response")

    def invite(self) -> None:
        rtp = self.rtp.getsockname()[1]
        sdp = (
            f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        ).encode()
        self._send("INVITE", 1, sdp)
        code, answer = self._final(1)
        assert code == 200, answer
        found = re.search(r"^To:.*;tag=([^;\r\n]+)", answer, re.MULTILINE | re.IGNORECASE)
        assert found, answer
        self.to_tag = found.group(1)
        self._send("ACK", 1, to_tag=self.to_tag)

    def bye(self) -> None:
        self._send("BYE", 2, to_tag=self.to_tag)
        assert self._final(2)[0] == 200

    def close(self) -> None:
        self.sock.close()
        self.rtp.close()


def the_call_from_the_bad_display(server: Server, ended: bool) -> dict[str, Any]:
    """The newest such call, with a turn (the greeting), once ended or while live."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        items = server.api("/calls?limit=20").json()["items"]
        mine = [item for item in items if "\\xed\\xa0\\xbd" in item["from_uri"]]
        if mine and bool(mine[0]["ended_at"]) == ended:
            call = dict(server.api(f"/calls/{mine[0]['id']}").json())
            if call["turns"]:
                return call
        time.sleep(0.3)
    raise AssertionError(f"no record of the call:\n{server.tail()}")


def test_a_caller_whose_from_is_not_utf8_is_recorded_with_its_turns(server: Server) -> None:
    caller = RawSipCall(server.sip_port)
    try:
        caller.invite()
        live = the_call_from_the_bad_display(server, ended=False)
        caller.bye()
    finally:
        caller.close()
    call = the_call_from_the_bad_display(server, ended=True)
    assert call["from_uri"].startswith('"\\xed\\xa0\\xbd"'), call["from_uri"]
    assert "5551234567" not in call["from_uri"] and "***567" in call["from_uri"]  # masked
    assert call["turns"][0]["speaker"] == "agent" and call["id"] == live["id"]
    # "_" in a search is a literal underscore, not any one character
    assert server.api("/calls").json()["total"] >= 1
    assert server.api("/calls?q=_").json()["total"] == 0
    assert "store write failed" not in server.log.read_text(errors="replace")


# -- 8. an unclean call ends when it was last known alive, not at the restart -----------
def test_a_killed_servers_open_call_ends_when_last_seen(running: Running) -> None:
    server = running.server
    caller = RawSipCall(server.sip_port)
    try:
        caller.invite()
        live = the_call_from_the_bad_display(server, ended=False)
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        killed = time.time()
    finally:
        caller.close()
    time.sleep(1.0)  # the restart is later than anything the killed server wrote
    running.server = start_server(running.root, CONFIG)
    record = running.server.api(f"/calls/{live['id']}").json()
    assert record["end_reason"] == "unclean"
    ended = datetime.fromisoformat(record["ended_at"]).timestamp()
    created = datetime.fromisoformat(live["created_at"]).timestamp()
    assert created <= ended <= killed, (record["ended_at"], killed)
