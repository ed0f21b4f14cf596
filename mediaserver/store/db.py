"""Store: every query the server makes, over SQLAlchemy Core.

Methods are synchronous and short; callers on the event loop use them
through a worker thread (FastAPI's threadpool, or the CallLog writer)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Connection, Engine

from mediaserver.store.keys import KeysAndSettings
from mediaserver.store.rows import StoreError, _row, utcnow
from mediaserver.store.tables import (
    agent_versions,
    agents,
    call_events,
    calls,
    turns,
)
from mediaserver.store.text import fit
from mediaserver.store.unclean import OnClosed, close_unclean, read_call

MIGRATIONS = Path(__file__).with_name("migrations")

__all__ = ["CallFilter", "Store", "StoreError", "utcnow"]


def engine_for(url: str) -> Engine:
    """An engine for `url`: sqlite:///path (WAL, foreign keys) or postgresql://..."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        engine = sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise StoreError(f"store url {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a killed process loses nothing committed; only a power cut can.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


@dataclass(frozen=True, slots=True)
class CallFilter:
    since: datetime | None = None
    until: datetime | None = None
    agent: str | None = None
    direction: str | None = None
    end_reason: str | None = None
    text: str | None = None  # in any turn
    limit: int = 50
    offset: int = 0


class Store(KeysAndSettings):
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and bring the schema up to date."""
        store = cls(url)
        store.migrate()
        return store

    def migrate(self) -> None:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except sa.exc.OperationalError as exc:
            raise StoreError(f"cannot open the store at {self.engine.url!r}: {exc.orig}") from None

    def close(self) -> None:
        self.engine.dispose()

    def _write(self, work: Callable[[Connection], Any]) -> Any:
        with self.engine.begin() as connection:
            return work(connection)

    # -- agents ---------------------------------------------------------------
    def list_agents(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            return [_row(r) for r in c.execute(sa.select(agents).order_by(agents.c.name))]

    def get_agent(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        """The agent's current spec, or the spec it had at `version`."""
        with self.engine.connect() as c:
            if version is None:
                row = c.execute(sa.select(agents).where(agents.c.name == name)).first()
            else:
                row = c.execute(
                    sa.select(agent_versions).where(
                        agent_versions.c.name == name, agent_versions.c.version == version
                    )
                ).first()
        return None if row is None else _row(row)

    def put_agent(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Create the agent or give it a new version; calls keep the version they run."""

        def put(c: Connection) -> dict[str, Any]:
            now = utcnow()
            last = c.scalar(
                sa.select(sa.func.max(agent_versions.c.version)).where(
                    agent_versions.c.name == name
                )
            )
            version = (last or 0) + 1
            c.execute(
                agent_versions.insert().values(
                    name=name, version=version, spec=spec, created_at=now
                )
            )
            updated = c.execute(
                agents.update()
                .where(agents.c.name == name)
                .values(version=version, spec=spec, updated_at=now)
            )
            if not updated.rowcount:
                c.execute(
                    agents.insert().values(
                        name=name, version=version, spec=spec, created_at=now, updated_at=now
                    )
                )
            row = c.execute(sa.select(agents).where(agents.c.name == name)).one()
            return _row(row)

        result: dict[str, Any] = self._write(put)
        return result

    def delete_agent(self, name: str) -> bool:
        """Remove the agent; its versions stay for the calls that used them."""
        result = self._write(lambda c: c.execute(agents.delete().where(agents.c.name == name)))
        return bool(result.rowcount)

    # -- calls (written as they happen) ---------------------------------------
    def call_created(
        self,
        *,
        transport: str,
        direction: str,
        agent: str,
        agent_version: int = 0,
        from_uri: str = "",
        to_uri: str = "",
        trunk: str = "",
        call_id: str | None = None,
        external_id: str = "",
        worker: str = "",
    ) -> str:
        call_id = call_id or str(uuid.uuid4())
        self._write(
            lambda c: c.execute(
                calls.insert().values(
                    fit(
                        calls,
                        id=call_id,
                        transport=transport,
                        direction=direction,
                        from_uri=from_uri,
                        to_uri=to_uri,
                        trunk=trunk,
                        agent=agent,
                        agent_version=agent_version,
                        external_id=external_id,
                        worker=worker,
                        created_at=utcnow(),
                    )
                )
            )
        )
        return call_id

    def update_call(self, call_id: str, **values: Any) -> None:
        """Set columns of a call: answered_at, recording_path, transfer_*, ..."""
        row = fit(calls, **values)
        self._write(lambda c: c.execute(calls.update().where(calls.c.id == call_id).values(row)))

    def touch_calls(self, call_ids: list[str]) -> None:
        """The calls are alive now: an unclean end is dated from the last touch."""
        if call_ids:
            self._write(lambda c: _seen(c, call_ids))

    def call_ended(self, call_id: str, reason: str, sip_code: int | None = None) -> None:
        """End the call once; a later end (e.g. BYE after the agent's goodbye) keeps the first."""
        self._write(
            lambda c: c.execute(
                calls.update()
                .where(calls.c.id == call_id, calls.c.ended_at.is_(None))
                .values(ended_at=utcnow(), end_reason=reason, sip_code=sip_code)
            )
        )

    def add_turn(
        self,
        call_id: str,
        speaker: str,
        text: str,
        *,
        start_s: float | None,
        end_s: float | None,
        interrupted: bool = False,
        timings_ms: dict[str, float] | None = None,
        chunks: list[int] | None = None,
    ) -> None:
        row = fit(
            turns,
            call_id=call_id,
            speaker=speaker,
            text=text,
            start_s=start_s,
            end_s=end_s,
            interrupted=interrupted,
            timings_ms=timings_ms,
            chunks=chunks,
        )

        def add(c: Connection) -> None:
            c.execute(turns.insert().values(row))
            _seen(c, [call_id])

        self._write(add)

    def add_event(self, call_id: str, at_s: float, kind: str, value: str = "") -> None:
        row = fit(call_events, call_id=call_id, at_s=at_s, kind=kind, value=value)

        def add(c: Connection) -> None:
            c.execute(call_events.insert().values(row))
            _seen(c, [call_id])

        self._write(add)

    def close_unclean(self, worker: str | None = None, on_closed: OnClosed | None = None) -> int:
        """At start-up: calls a killed server left open are ended as `unclean`, at
        the last moment each was known alive (its last turn, event or heartbeat);
        with `worker`: only that cluster worker's (it died, the others go on).
        `on_closed` runs in each call's closing transaction (its call.ended)."""
        return close_unclean(self.engine, worker, on_closed)

    def list_calls(self, where: CallFilter) -> tuple[int, list[dict[str, Any]]]:
        """(how many match, one page of them, newest first)."""
        conditions = []
        if where.since is not None:
            conditions.append(calls.c.created_at >= where.since)
        if where.until is not None:
            conditions.append(calls.c.created_at < where.until)
        for column, value in (
            (calls.c.agent, where.agent),
            (calls.c.direction, where.direction),
            (calls.c.end_reason, where.end_reason),
        ):
            if value is not None:
                conditions.append(column == value)
        if where.text:
            literal = where.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{literal}%"
            conditions.append(
                sa.exists().where(
                    turns.c.call_id == calls.c.id, turns.c.text.ilike(pattern, escape="\\")
                )
            )
        with self.engine.connect() as c:
            total = c.scalar(sa.select(sa.func.count()).select_from(calls).where(*conditions))
            rows = c.execute(
                sa.select(calls)
                .where(*conditions)
                .order_by(calls.c.created_at.desc(), calls.c.id)
                .limit(where.limit)
                .offset(where.offset)
            )
            return int(total or 0), [_row(r) for r in rows]

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        """The call with its turns and events, in order."""
        with self.engine.connect() as c:
            return read_call(c, call_id)


def _seen(c: Connection, call_ids: list[str]) -> None:
    c.execute(
        calls.update()
        .where(calls.c.id.in_(call_ids), calls.c.ended_at.is_(None))
        .values(last_seen_at=utcnow())
    )
