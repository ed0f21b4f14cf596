"""Phone numbers in stored call records ([api] store_numbers): kept in full,
masked to their last three digits (as the logs show them), or replaced by a
keyed hash, so calls from one number can still be found together without the
store holding the number."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

# 7+ digits, maybe a leading + and spaces or dashes: in a URI's user part or a display name
NUMBER = re.compile(r"(?<![\w.])\+?\d[\d -]{5,}\d(?![\d.])")
POLICIES = ("full", "masked", "hashed")


def masked(text: str) -> str:
    return NUMBER.sub(lambda m: "***" + m.group()[-3:], text)


def hasher(key: bytes) -> Callable[[str], str]:
    """Each number in the text as "#" + 16 hex digits of HMAC-SHA256(key, its digits)."""

    def hashed(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            digits = "".join(c for c in match.group() if c.isdigit() or c == "+")
            return "#" + hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()[:16]

        return NUMBER.sub(one, text)

    return hashed


def policy(name: str, key: bytes) -> Callable[[str], str]:
    """What a stored URI goes through under `name` (one of POLICIES)."""
    if name == "masked":
        return masked
    if name == "hashed":
        return hasher(key)
    if name == "full":
        return str
    raise ValueError(f"store_numbers: expected one of {', '.join(POLICIES)}, not {name!r}")
