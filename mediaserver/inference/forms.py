"""multipart/form-data (OpenAI's transcription request) read with the
standard library's MIME parser: no extra dependency for one form."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from mediaserver.inference.errors import ApiError


def parse(body: bytes, content_type: str) -> dict[str, bytes]:
    """Field name -> its bytes (a file's content, or a text field's UTF-8)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, "expected a multipart/form-data body (file=@audio.wav)")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise ApiError(400, "malformed multipart body")
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            continue
        payload = part.get_payload(decode=True)
        fields[name] = payload if isinstance(payload, bytes) else b""
    return fields


def text(fields: dict[str, bytes], name: str, default: str | None = None) -> str | None:
    if (value := fields.get(name)) is None:
        return default
    try:
        return value.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ApiError(400, f"{name}: not UTF-8 text", param=name) from None
