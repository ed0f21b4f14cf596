"""The store's API keys (only their hashes are kept) and its settings (the
server's own values, such as secrets made on first use)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mediaserver.store.rows import StoreError, _row, utcnow
from mediaserver.store.tables import api_keys, settings

ROLES = ("admin", "viewer")
KEY_PREFIX = "msk"


class KeysAndSettings:
    """Store's methods for API keys and settings."""

    engine: Engine

    # -- settings -------------------------------------------------------------
    def pop_setting(self, key: str) -> str | None:
        """Remove `key`; its value, if it had one."""
        with self.engine.begin() as c:
            value = c.scalar(sa.select(settings.c.value).where(settings.c.key == key))
            c.execute(settings.delete().where(settings.c.key == key))
            return None if value is None else str(value)

    def setting(self, key: str, default: Callable[[], str]) -> str:
        """The stored value of `key`; the first caller stores `default()`."""
        with self.engine.begin() as c:
            value = c.scalar(sa.select(settings.c.value).where(settings.c.key == key))
            if value is not None:
                return str(value)
            value = default()
            c.execute(settings.insert().values(key=key, value=value))
            return value

    # -- API keys -------------------------------------------------------------
    def create_key(self, role: str, name: str = "") -> str:
        """A new API key (shown once; only its hash is stored)."""
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        with self.engine.begin() as c:
            c.execute(
                api_keys.insert().values(
                    id=key_id,
                    name=name,
                    role=role,
                    secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
                    created_at=utcnow(),
                )
            )
        return f"{KEY_PREFIX}_{key_id}_{secret}"

    def key_role(self, key: str) -> tuple[str, str] | None:
        """(key id, role) of a valid, unrevoked key; None otherwise."""
        if not key.isascii():
            return None
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != KEY_PREFIX or not key_id or not secret:
            return None
        with self.engine.connect() as c:
            row = c.execute(
                sa.select(api_keys.c.role, api_keys.c.secret_sha256).where(
                    api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)
                )
            ).first()
        if row is None:
            return None
        digest = hashlib.sha256(secret.encode()).hexdigest()
        return (key_id, row.role) if hmac.compare_digest(digest, row.secret_sha256) else None

    def revoke_key(self, key_id: str) -> bool:
        with self.engine.begin() as c:
            result = c.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return bool(result.rowcount)

    def list_keys(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(
                sa.select(
                    api_keys.c.id,
                    api_keys.c.name,
                    api_keys.c.role,
                    api_keys.c.created_at,
                    api_keys.c.revoked_at,
                ).order_by(api_keys.c.created_at)
            )
            return [_row(r) for r in rows]
