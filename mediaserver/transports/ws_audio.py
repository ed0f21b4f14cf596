"""/ws/audio: a call for apps over one WebSocket.

In: a JSON start message, {"type": "start", "agent": "default",
"encoding": "pcm16" | "mulaw", "rate": 8000 | 16000 | 24000 | 48000};
then binary messages of audio in that encoding (little-endian for pcm16,
any length, sent in real time); JSON {"type": "dtmf", "digits": "1"} and
{"type": "hangup"}.

Out: {"type": "started", "call_id", "encoding", "rate", "frame_ms"}; binary
20 ms frames of the agent while it speaks (same encoding and rate); JSON
events: transcript (speaker caller | agent, with interrupted and latency_ms,
the voice-to-voice time of an answer), agent_text (a whole reply, once
generated: ahead of its audio), agent_clause (each clause of a reply as its
audio starts to play), interrupted, dtmf, and {"type": "end", "reason",
"record_id"} before the socket closes (record_id: GET /calls/{id}).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from mediaserver.events import AgentClause, AgentSpoke, AgentText, Dtmf, Interrupted, Transcript
from mediaserver.transports.socket_wire import (
    INVALID,
    POLICY,
    UNSUPPORTED,
    Encoding,
    ProtocolError,
    json_object,
)
from mediaserver.transports.websocket_call import SocketCall

RATES = (8000, 16000, 24000, 48000)
ENCODINGS: tuple[Encoding, ...] = ("pcm16", "mulaw")


class AppCall(SocketCall):
    kind = "websocket"

    def __init__(
        self, *args: Any, allow_agent: Callable[[str], Awaitable[str | None]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.allow_agent = allow_agent  # agent name -> None if allowed, else why not
        self.handle.on_event = self.on_session_event

    def on_text(self, text: str) -> Awaitable[None] | None:
        message = json_object(text)
        match message.get("type"):
            case "start":
                return self._start(message)
            case "dtmf":
                digits = message.get("digits")
                if not isinstance(digits, str):
                    raise ProtocolError(INVALID, "dtmf.digits: expected a string")
                self.dtmf(digits)
            case "hangup":
                self.end("caller_hangup")
            case kind:
                raise ProtocolError(UNSUPPORTED, f"unknown message type {str(kind)[:40]!r}")
        return None

    def on_bytes(self, data: bytes) -> None:
        self.audio_in(data)

    async def _start(self, message: dict[str, Any]) -> None:
        agent = message.get("agent", "default")
        encoding = message.get("encoding", "pcm16")
        rate = message.get("rate", 16000)
        if not isinstance(agent, str):
            raise ProtocolError(INVALID, "start.agent: expected a string")
        if encoding not in ENCODINGS:
            raise ProtocolError(UNSUPPORTED, f"start.encoding: expected one of {ENCODINGS}")
        if rate not in RATES or isinstance(rate, bool):
            raise ProtocolError(UNSUPPORTED, f"start.rate: expected one of {RATES}")
        if (refused := await self.allow_agent(agent)) is not None:
            raise ProtocolError(POLICY, refused, "refused")
        self.handle.agent = agent
        self.start(encoding, int(rate))
        self._send_json(
            {
                "type": "started",
                "call_id": self.handle.call_id,
                "encoding": encoding,
                "rate": rate,
                "frame_ms": 20,
            }
        )

    def on_session_event(self, event: object) -> None:
        match event:
            case Transcript(text=text):
                self._send_json({"type": "transcript", "speaker": "caller", "text": text})
            case AgentText(text=text):
                self._send_json({"type": "agent_text", "text": text})
            case AgentClause(text=text):
                self._send_json({"type": "agent_clause", "text": text})
            case AgentSpoke():
                self._send_json(
                    {
                        "type": "transcript",
                        "speaker": "agent",
                        "text": event.text,
                        "interrupted": event.interrupted,
                        "latency_ms": dict(event.timings_ms).get("first_audio_out"),
                    }
                )
            case Interrupted(heard=heard):
                self._send_json({"type": "interrupted", "heard": heard})
            case Dtmf(digit=digit):
                self._send_json({"type": "dtmf", "digit": digit})

    def goodbye(self, reason: str) -> None:
        self._send_json({"type": "end", "reason": reason, "record_id": self.handle.record_id})

    def _send_json(self, message: dict[str, Any]) -> None:
        self.send(json.dumps(message))
