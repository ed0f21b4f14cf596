"""The store under test: SQLite in the test's tmp dir, and a real PostgreSQL
(one server per test session, a fresh database per test)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="mediaserver-pg-"))
    os.chmod(root, 0o755)  # the postgres user must reach it
    try:
        with postgres(root) as url:
            yield url
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    import psycopg

    server: str = request.getfixturevalue("postgres_server")
    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"
