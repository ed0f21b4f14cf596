"""What carriers check of a SIP peer, against `mediaserver serve`: RTP that keeps
flowing while the agent is silent, To copied as it came (RFC 3261 8.2.6.2),
and the packet time in the SDP answer. Each is seen by a hand-built UDP
INVITE, sipp and (RTP) a pjsua2 caller."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_sip import caller
from tests.server import Server, free_sip_port, start_server, stop_server
from tests.sip_raw import Peer, Request, invite, status

pytestmark = pytest.mark.integration

LISTEN_SECONDS = 8.0  # longer than the greeting: most of it is the agent's silence
# 20 ms packets without a gap over LISTEN_SECONDS, less a margin for start-up;
# with the codec's VAD on, silence sends one keep-alive per 5 s instead
CONTINUOUS = int(LISTEN_SECONDS * 50 * 0.8)
SILENT_SECONDS = 2  # of the agent's silence heard as RTP, whatever the greeting's length


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("sip-carrier"))
    yield srv
    stop_server(srv)


def sdp_to(rtp_port: int) -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )


def header(message: str, name: str) -> list[str]:
    head = message.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
    return [v.strip() for n, _, v in (line.partition(":") for line in head) if n.strip() == name]


def ack(peer: Peer, request: Request, ok: str) -> None:
    contact = re.search(r"<([^>]+)>", header(ok, "Contact")[0])
    assert contact is not None
    via = f"SIP/2.0/UDP {peer.local[0]}:{peer.local[1]};branch=z9hG4bK{uuid.uuid4().hex[:16]}"
    peer.send(
        str(
            Request(
                f"ACK {contact.group(1)} SIP/2.0",
                [
                    ("Via", via),
                    ("Max-Forwards", "70"),
                    ("From", request.header("From")),
                    ("To", header(ok, "To")[0]),
                    ("Call-ID", request.header("Call-ID")),
                    ("CSeq", "1 ACK"),
                ],
            )
        )
    )


def count_rtp(sock: socket.socket, seconds: float) -> tuple[int, int]:
    """RTP packets with a payload over `seconds`, and how many of them are
    PCMU silence (0xFF: what the agent sends when it says nothing)."""
    packets = silent = 0
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except (TimeoutError, OSError):
            break
        if len(data) > 12 and data[0] >> 6 == 2:  # RTP with a payload (a keep-alive has none)
            packets += 1
            silent += data[12:].count(0xFF) == len(data) - 12
    return packets, silent


def test_a_raw_invite_gets_to_as_sent_a_ptime_and_rtp_through_the_silence(
    server: Server,
) -> None:
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    peer = Peer(server.sip_port)
    try:
        request = invite(server.sip_port, peer.local)
        request.body = sdp_to(rtp.getsockname()[1])
        sent_to = request.header("To")
        assert f":{server.sip_port}>" in sent_to
        peer.send(str(request))
        answers = peer.responses(request.header("Call-ID"), 10.0)
        assert answers and status(answers[-1]) == 200, answers
        for answer in answers:  # 100, 180 and 200: the URI as sent, a tag added
            (to,) = header(answer, "To")
            assert to.split(";tag=")[0] == sent_to, (to, sent_to)
        ok = answers[-1]
        assert "a=ptime:20\r\n" in ok.split("\r\n\r\n", 1)[1], ok
        ack(peer, request, ok)
        packets, silent = count_rtp(rtp, LISTEN_SECONDS)
        peer.end_call(request, ok)
    finally:
        peer.close()
        rtp.close()
    assert packets >= CONTINUOUS, (packets, silent)
    assert silent >= SILENT_SECONDS * 50, (packets, silent)


SIPP_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier checks">
  <send retrans="500">
    <![CDATA[
      INVITE sip:agent@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:agent@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true">
    <action>
      <ereg regexp="^ *&lt;sip:agent@127\\.0\\.0\\.1:{port}&gt;;tag=" search_in="hdr" header="To:"
            check_it="true" assign_to="ringing_to"/>
    </action>
  </recv>
  <recv response="200">
    <action>
      <ereg regexp="^ *&lt;sip:agent@127\\.0\\.0\\.1:{port}&gt;;tag=" search_in="hdr" header="To:"
            check_it="true" assign_to="ok_to"/>
      <ereg regexp="a=ptime:20" search_in="body" check_it="true" assign_to="ptime"/>
    </action>
  </recv>
  <Reference variables="ringing_to,ok_to,ptime"/>
  <send>
    <![CDATA[
      ACK sip:agent@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:agent@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="1000"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:agent@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:agent@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""


def test_sipp_sees_to_as_sent_and_a_ptime_in_the_answer(server: Server, tmp_path: Path) -> None:
    scenario = tmp_path / "carrier.xml"
    scenario.write_text(SIPP_SCENARIO.replace("{port}", str(server.sip_port)))
    proc = subprocess.run(
        [
            "sipp",
            "-sf",
            str(scenario),
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_sip_port()),
            "-mp",
            str(free_sip_port()),
            "-nostdin",
            "-timeout",
            "30",
            f"127.0.0.1:{server.sip_port}",
        ],
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_a_pjsua2_caller_gets_rtp_through_the_agents_silence(server: Server) -> None:
    result = caller("--to", server.uri, "--seconds", str(LISTEN_SECONDS))
    assert result["connected"], result
    assert int(str(result["rtp_received"])) >= CONTINUOUS, result
