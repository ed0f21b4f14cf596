"""How a delivery is signed, and how a receiver checks it (the README's
"Webhooks" section shows the same check).

    signature = hex(HMAC-SHA256(secret, f"{timestamp}." + body))

sent as `Webhook-Signature: v1=<hex>` with `Webhook-Timestamp: <unix seconds>`
and `Webhook-Id: <event id>` (the same id on every retry: de-duplicate by it)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

ID_HEADER = "Webhook-Id"
TIMESTAMP_HEADER = "Webhook-Timestamp"
SIGNATURE_HEADER = "Webhook-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
TOLERANCE_SECONDS = 300  # a receiver refuses older (or later) timestamps: no replays


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    signed: str,
    *,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """Whether `signed` (the signature header) is `secret`'s over this body and
    timestamp, and the timestamp is within `tolerance` of `now`."""
    try:
        at = int(timestamp)
    except ValueError:
        return False
    if abs(now - at) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, at, body), signed)
