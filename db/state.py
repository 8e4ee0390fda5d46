"""Small named values that outlive a run (``sync_state``): the sync watermark, the last
removal check, the last watch evaluation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update

from db.models import SyncState

STATE: Table = SyncState.__table__  # type: ignore[attr-defined]


def get_state(conn: Connection, key: str) -> str | None:
    value: str | None = conn.execute(select(STATE.c.value).where(STATE.c.key == key)).scalar()
    return value


def set_state(conn: Connection, key: str, value: str) -> None:
    """Insert or replace, inside the caller's transaction."""
    if conn.execute(update(STATE).where(STATE.c.key == key).values(value=value)).rowcount == 0:
        conn.execute(insert(STATE).values(key=key, value=value))


def as_utc(value: Any) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands them back naive, or as text)."""
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
