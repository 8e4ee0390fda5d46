"""Shared fixtures: a real store on SQLite, and on PostgreSQL where it is reachable.

Every test that takes ``store_url`` or ``engine`` runs once per backend. The
PostgreSQL runs use a fresh schema per test in the database named by
``TRIALSITE_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``);
where that server is not reachable they are skipped with the reason shown.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text

from db.engine import open_store
from db.rows import parse_needs_summary

FIXTURES = Path(__file__).parent / "fixtures"
CTGOV = FIXTURES / "ctgov"
V2 = CTGOV / "v2-studies"
PG_URL = os.environ.get("TRIALSITE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_unreachable() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # any failure to connect means: skip, and say why
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


_PG_SKIP: str | None = None
_PG_CHECKED = False


def pg_skip_reason() -> str | None:
    global _PG_SKIP, _PG_CHECKED
    if not _PG_CHECKED:
        _PG_SKIP = _pg_unreachable()
        _PG_CHECKED = True
    return _PG_SKIP


@contextmanager
def empty_store(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a new, empty store: a SQLite file in ``folder``, or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'trialsite.db'}"
        return
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in PG_URL else "?"
        yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store, one per backend."""
    with empty_store(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """An engine on an empty, migrated store."""
    store = open_store(store_url)
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture(scope="session", autouse=True)
def gazetteer_path() -> Path:
    """The offline gazetteer, built once per machine into the user cache (about 30 s),
    and named in TRIALSITE_GAZETTEER for the CLI and ingest under test."""
    from ingest.places.gazetteer.build import default_gazetteer_path
    from ingest.places.gazetteer.lookup import Gazetteer

    path = Path(os.environ.get("TRIALSITE_GAZETTEER") or default_gazetteer_path())
    Gazetteer.open(path).close()
    os.environ["TRIALSITE_GAZETTEER"] = str(path)
    return path


def stored_needs(engine: Engine) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Per trial, its needs counted as ``trial_needs`` stores them, and as counted afresh from
    its criterion rows: ingest, reparse and the migration must leave the two equal."""
    summaries: dict[str, dict[str, int]] = {}
    counted: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for nct_id, lines in conn.execute(text("SELECT nct_id, needs FROM trial_needs")):
            summaries[nct_id] = dict(parse_needs_summary(lines))
        for nct_id, needs in conn.execute(
            text("SELECT nct_id, needs FROM criterion WHERE needs IS NOT NULL")
        ):
            counts = counted.setdefault(nct_id, {})
            counts[needs] = counts.get(needs, 0) + 1
    return summaries, counted
