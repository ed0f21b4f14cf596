"""The control plane's store: agents, calls with their turns, API keys.
SQLite (WAL) by default, PostgreSQL by URL; the schema moves by migrations."""

from mediaserver.store.db import CallFilter, Store, StoreError

__all__ = ["CallFilter", "Store", "StoreError"]
