"""Engine and session: one settings object read from the environment.

SQLite (``./trialsite.db``, WAL mode) is the embedded default;
``TRIALSITE_DATABASE_URL`` (or the CLI's ``--db``) points at PostgreSQL, e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``. The schema is brought
to the newest Alembic revision on first use.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

DEFAULT_DATABASE_URL = "sqlite:///trialsite.db"
ENV_DATABASE_URL = "TRIALSITE_DATABASE_URL"


@dataclass(frozen=True)
class Settings:
    database_url: str

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Settings:
        url = database_url or os.environ.get(ENV_DATABASE_URL) or DEFAULT_DATABASE_URL
        return cls(database_url=normalize_url(url))


def normalize_url(url: str) -> str:
    """Accept a bare path for SQLite and plain ``postgresql://`` URLs (psycopg 3 driver)."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _json_dumps(value: Any) -> str:
    # orjson: JSON columns (sites' contacts, collaborators) are written for every row of a bulk load.
    return orjson.dumps(value).decode()


MMAP_BYTES = 1 << 40  # SQLite lowers it to its own maximum


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, mmap_bytes: int) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Statement journals in memory: a bulk load's inserts fired one per row (with the index
    # triggers), each spilling to a temporary file past 64 KiB: 1.2 million writes per 10,000
    # studies. They hold one statement's undo, a few pages.
    cursor.execute("PRAGMA temp_store=MEMORY")
    # Reads through a memory map of the store (up to SQLite's compiled limit, 2 GiB in
    # Python's build) instead of a read() per page: a broad match near a dense area reads
    # thousands of index pages, and on the 2-core VM the registry-scale match benchmark's
    # p95 fell from 95 to 72 ms with it (warm page cache). Writes still go through the WAL.
    # Bulk writers open the store without it (see ``create_store_engine``).
    cursor.execute(f"PRAGMA mmap_size={mmap_bytes}")
    cursor.close()


def _postgresql_settings(dbapi_connection: Any, _record: Any) -> None:
    # No JIT compilation: PostgreSQL compiles a plan whose estimated cost passes
    # jit_above_cost, and a match's candidate query over millions of sites estimates past it
    # while it runs in milliseconds to a few hundred on its indexes: at registry scale one
    # such query spent 78 ms compiling and then ran in 340. The match benchmark's p95 fell
    # from 329 to 289 ms without it.
    # Committed, or the pool's rollback on return would undo it.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    dbapi_connection.commit()


def create_store_engine(url: str, *, memory_map: bool = True) -> Engine:
    """An engine for the store; SQLite gets WAL and foreign keys on every connection.

    ``hide_parameters``: a statement's parameters never appear in an error's text (a match's
    are a patient's place and conditions, and errors reach logs).

    ``memory_map=False`` (bulk loads): SQLite reads with ``read()``, not through a map. A
    load gains nothing from the map (20,000 studies: 439 against 442 studies/s) and every
    mapped page it touches counts in its resident set: 762 MB at the peak of a 100,000-study
    load, against 257 MB without.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            if sqlite_read_only(Path(parsed.database)):
                return _read_only_sqlite(Path(parsed.database), memory_map)
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, json_serializer=_json_dumps, hide_parameters=True
        )
        mmap_bytes = MMAP_BYTES if memory_map else 0
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, mmap_bytes=mmap_bytes))
        return engine
    engine = create_engine(url, pool_pre_ping=True, json_serializer=_json_dumps, hide_parameters=True)
    event.listen(engine, "connect", _postgresql_settings)
    return engine


class ReadOnlyStore(Exception):
    """A read-only SQLite store that cannot be read as it is; the message says why."""


def sqlite_read_only(path: Path) -> bool:
    """Can this process not write the SQLite store at ``path`` (an existing file)? Its file
    system is mounted read-only, the file is not writable, or its folder is not and the
    write-ahead files SQLite needs beside it are not there to be written."""
    if not path.is_file():
        return False
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        pass
    if not os.access(path, os.W_OK):
        return True
    beside = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    return not os.access(path.parent, os.W_OK) and not all(
        f.exists() and os.access(f, os.W_OK) for f in beside
    )


def _read_only_sqlite(path: Path, memory_map: bool) -> Engine:
    """A store this process cannot write, opened to read (``trialsite serve`` serves it).

    SQLite reads a WAL-mode store only if it can write the ``-shm`` file beside it; where it
    cannot, the store is opened immutable, which is sound only when no write-ahead log holds
    changes not yet in the file: a store with a non-empty ``-wal`` is refused, saying so."""
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise ReadOnlyStore(
            f"the store at {path} is read-only and its write-ahead log ({wal.name}) holds changes "
            "it cannot apply: open it once where it is writable (any trialsite command), then again here"
        )
    # The file is opened through a URI of its own ("?", "#" and "%" in the path escaped); the
    # engine's URL stays the plain path, as messages show it.
    uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
    engine = create_engine(
        f"sqlite:///{path}",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        json_serializer=_json_dumps,
        hide_parameters=True,
    )
    event.listen(
        engine, "connect", functools.partial(_sqlite_read_pragmas, mmap_bytes=MMAP_BYTES if memory_map else 0)
    )
    _READ_ONLY.add(engine)
    return engine


def _sqlite_read_pragmas(dbapi_connection: Any, _record: Any, *, mmap_bytes: int) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA mmap_size={mmap_bytes}")
    cursor.close()


_READ_ONLY: weakref.WeakSet[Engine] = weakref.WeakSet()


def is_read_only(engine: Engine) -> bool:
    return engine in _READ_ONLY


def open_store(database_url: str | None = None, *, migrate: bool = True, memory_map: bool = True) -> Engine:
    """Settings → engine, with the schema upgraded to the newest revision (a read-only store
    must be at it already)."""
    engine = create_store_engine(Settings.from_env(database_url).database_url, memory_map=memory_map)
    if migrate:
        from db.migrate import current_revision, head_revision, upgrade_if_needed

        if is_read_only(engine):
            revision, head = current_revision(engine), head_revision(engine)
            if revision != head:
                engine.dispose()
                raise ReadOnlyStore(
                    f"the store at {engine.url.database} is read-only and at "
                    f"schema revision {revision}, not {head}: upgrade it where it is writable"
                )
            return engine
        upgrade_if_needed(engine)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
