"""Twilio Media Streams, bidirectional (<Connect><Stream>): one call per socket.

From Twilio (JSON text messages): connected, start (streamSid, callSid,
customParameters, mediaFormat: audio/x-mulaw 8000 Hz mono), media (base64
µ-law, 20 ms), dtmf, mark (an echo of ours: played up to there), stop.
To Twilio: media (the agent, base64 µ-law 20 ms frames), a mark after each
clause (MarkedPlayout: the history keeps what the caller heard), and clear
on barge-in.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from mediaserver.transports.marked_playout import MarkedPlayout
from mediaserver.transports.socket_wire import (
    INVALID,
    UNSUPPORTED,
    ProtocolError,
    json_object,
)
from mediaserver.transports.websocket_call import SocketCall

MEDIA_FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}


class TwilioCall(SocketCall):
    kind = "twilio"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream_sid = ""
        self.playout = MarkedPlayout(on_clear=self._clear)
        self.handle.media.outbound = self.playout
        self.marks_echoed: list[str] = []

    def on_text(self, text: str) -> None:
        message = json_object(text)
        match message.get("event"):
            case "connected":
                pass
            case "start":
                self._start(_object(message, "start"))
            case "media":
                self._media(_object(message, "media"))
            case "dtmf":
                digit = _object(message, "dtmf").get("digit")
                if isinstance(digit, str):
                    self.dtmf(digit)
            case "mark":
                name = _object(message, "mark").get("name")
                if isinstance(name, str):
                    self.marks_echoed.append(name)
                    self.playout.confirm(name)
            case "stop":
                self.end("caller_hangup")
            case _:
                pass  # events Twilio may add later

    def _media(self, media: dict[str, Any]) -> None:
        if media.get("track", "inbound") != "inbound":
            return  # only the caller's audio is ours to hear
        payload = media.get("payload")
        if not isinstance(payload, str):
            raise ProtocolError(INVALID, "media.payload: expected a base64 string")
        try:
            audio = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(INVALID, "media.payload: not base64") from None
        self.audio_in(audio)

    def on_bytes(self, data: bytes) -> None:
        raise ProtocolError(UNSUPPORTED, "Media Streams messages are JSON text, not binary")

    def _start(self, start: dict[str, Any]) -> None:
        media_format = start.get("mediaFormat")
        if media_format != MEDIA_FORMAT:
            raise ProtocolError(
                UNSUPPORTED,
                f"mediaFormat {json.dumps(media_format)[:60]}: expected audio/x-mulaw 8000 Hz mono",
                "unsupported_media",
            )
        stream_sid, call_sid = start.get("streamSid"), start.get("callSid")
        if not isinstance(stream_sid, str) or not stream_sid:
            raise ProtocolError(INVALID, "start.streamSid: expected a string")
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            raise ProtocolError(INVALID, "start.customParameters: expected an object")
        self.stream_sid = stream_sid
        handle = self.handle
        handle.external_id = str(call_sid or "")[:64]
        handle.agent = _param(params, "agent") or None
        handle.remote_uri = _param(params, "from") or handle.remote_uri
        handle.local_uri = _param(params, "to")
        handle.digits = "".join(d for d in _param(params, "digits")[:4] if d in "0123456789*#")
        self.start("mulaw", 8000)

    # -- to Twilio -------------------------------------------------------------------
    def send_audio(self, payload: bytes) -> None:
        self.send(
            json.dumps(
                {
                    "event": "media",
                    "streamSid": self.stream_sid,
                    "media": {"payload": base64.b64encode(payload).decode()},
                }
            )
        )

    def after_frame(self) -> None:
        for name in self.playout.take_marks():
            mark = {"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}}
            self.send(json.dumps(mark))

    def _clear(self) -> None:
        if self.stream_sid:
            self.send(json.dumps({"event": "clear", "streamSid": self.stream_sid}))


def _object(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise ProtocolError(INVALID, f"{key}: expected an object")
    return value


def _param(params: dict[str, Any], key: str) -> str:
    value = params.get(key, "")
    return value[:256] if isinstance(value, str) else ""
