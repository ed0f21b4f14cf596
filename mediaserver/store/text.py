"""Text as both stores can keep it. What a caller's SIP headers carry need not
be UTF-8: pjsua2 hands such bytes over as surrogate escapes, which SQLite and
PostgreSQL both refuse, and PostgreSQL refuses NUL and over-long varchars.
Rather than lose the call's record, such text is stored escaped and cut."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

ESCAPES = range(0xDC80, 0xDD00)  # Python's surrogateescape: one undecodable byte each


def escaped(text: str) -> str:
    """`text` with every byte that was not UTF-8 written as \\xNN, and NUL as \\x00."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = b"".join(
            char.encode("utf-8", "surrogateescape" if ord(char) in ESCAPES else "surrogatepass")
            for char in text
        )
        text = raw.decode("utf-8", "backslashreplace")
    return text.replace("\x00", "\\x00") if "\x00" in text else text


def fit(table: sa.Table, **values: Any) -> dict[str, Any]:
    """`values` for a row of `table`: text escaped, and cut to its column's length."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, str):
            text = escaped(value)
            length = getattr(table.c[name].type, "length", None)
            out[name] = text[:length] if length is not None else text
        else:
            out[name] = value
    return out
