"""Logging: one JSON object per line, with the call id on every line logged
inside a call, and nothing secret: API keys, call tokens and all but the last
digits of phone numbers are masked before a record is written."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time

call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("call_id", default=None)

SECRETS = [
    (re.compile(r"msk_[A-Za-z0-9]+_[A-Za-z0-9_-]+"), "msk_***"),  # API keys
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), r"\1***"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+"), "***"),  # call tokens
    # phone numbers (7+ digits, maybe +, spaces or dashes): keep the last 3
    (re.compile(r"(?<![\w.])(\+?\d[\d -]{5,}\d)(\d{3})(?![\d.])"), r"***\2"),
]


def mask(text: str) -> str:
    for pattern, replacement in SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask(record.getMessage()),
        }
        if (current := getattr(record, "call_id", None) or call_id.get()) is not None:
            entry["call_id"] = current
        if record.exc_info:
            entry["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class MaskingFormatter(logging.Formatter):
    """The human-readable format, masked the same way."""

    def format(self, record: logging.LogRecord) -> str:
        text = mask(super().format(record))
        current = call_id.get()
        return f"{text} [call {current}]" if current else text


def configure(json_lines: bool, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
