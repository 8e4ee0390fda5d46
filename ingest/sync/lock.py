"""One sync at a time, and a lock a killed run leaves behind never blocks the next.

PostgreSQL: a session-level advisory lock, held by a connection kept open for the run (it
dies with the process). SQLite: the ``sync_lock`` row, taken in an immediate transaction;
a row whose holder process is gone (same host) or whose heartbeat is older than
:data:`STALE_AFTER` is taken over. On both, the row says who holds the lock since when.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, select, text, update

from db.models import SyncLock
from db.state import as_utc
from ingest.liveness import process_alive

LOCK: Table = SyncLock.__table__  # type: ignore[attr-defined]
STALE_AFTER = timedelta(minutes=10)  # a run beats at every page; a page never takes this long
# Advisory locks are per database; a store is a schema in one: the key is this class and
# the store's schema, so syncs of two stores in one database never wait on each other.
ADVISORY_CLASS = 0x7472_6961  # "tria"
ADVISORY_LOCK = "SELECT pg_try_advisory_lock(:k, hashtext(current_schema()))"
ADVISORY_UNLOCK = "SELECT pg_advisory_unlock(:k, hashtext(current_schema()))"


class SyncLocked(Exception):
    """Another sync holds the lock; the message names it and since when."""

    def __init__(self, holder: str, since: datetime) -> None:
        super().__init__(f"another sync is running: {holder}, since {since.isoformat(timespec='seconds')}")
        self.holder, self.since = holder, since


@dataclass
class Lock:
    engine: Engine
    holder: str
    _conn: Connection | None = None

    @classmethod
    def acquire(cls, engine: Engine) -> Lock:
        pid, host = os.getpid(), socket.gethostname()
        lock = cls(engine, f"pid {pid} on {host}")
        now = datetime.now(UTC)
        if engine.dialect.name == "postgresql":
            conn = engine.connect()
            got = conn.execute(text(ADVISORY_LOCK), {"k": ADVISORY_CLASS}).scalar_one()
            conn.commit()
            if not got:
                row = conn.execute(select(LOCK)).mappings().first()
                conn.close()
                raise SyncLocked(
                    row["holder"] if row else "another session", as_utc(row["since"]) if row else now
                )
            lock._conn = conn
            with engine.begin() as tx:
                tx.execute(delete(LOCK))
                tx.execute(
                    insert(LOCK).values(
                        id=1, holder=lock.holder, pid=pid, host=host, since=now, heartbeat_at=now
                    )
                )
            return lock
        with engine.begin() as conn:
            # A write first: it takes SQLite's write lock, so no other run reads the row
            # between this one's read and its write.
            conn.execute(update(LOCK).values(id=LOCK.c.id))
            row = conn.execute(select(LOCK)).mappings().first()
            if row is not None:
                fresh = now - as_utc(row["heartbeat_at"]) < STALE_AFTER
                if fresh and process_alive(row["pid"], row["host"]):
                    raise SyncLocked(row["holder"], as_utc(row["since"]))
                conn.execute(delete(LOCK))
            conn.execute(
                insert(LOCK).values(id=1, holder=lock.holder, pid=pid, host=host, since=now, heartbeat_at=now)
            )
        return lock

    def beat(self, conn: Connection, run_id: int | None = None) -> None:
        """Inside the caller's transaction (a page's): the holder is alive."""
        values: dict[str, Any] = {"heartbeat_at": datetime.now(UTC)}
        if run_id is not None:
            values["run_id"] = run_id
        conn.execute(update(LOCK).where(LOCK.c.holder == self.holder).values(**values))

    def beat_now(self) -> None:
        """In a transaction of its own: the holder is alive (between steps of a long job)."""
        with self.engine.begin() as conn:
            self.beat(conn)

    def release(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(LOCK).where(LOCK.c.holder == self.holder))
        if self._conn is not None:
            self._conn.execute(text(ADVISORY_UNLOCK), {"k": ADVISORY_CLASS})
            self._conn.commit()
            self._conn.close()
            self._conn = None
