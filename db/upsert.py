"""Idempotent, versioned upsert of normalized trials, in batches.

For each incoming record, against what the store holds for the same id:

- nothing stored → **inserted**;
- same content hash → **unchanged** (re-running an ingest changes nothing);
- newer version — by the registry's last-update date, then its version date
  (``derivedSection.miscInfoModule.versionHolder``) → **updated**: the trial and
  all its child rows are replaced in one transaction and the differences are
  written as change events;
- not newer (older, or the same dates with other content) → **stale**: the
  stored record is kept, so an older snapshot never overwrites a newer one
  whatever order files are loaded in.

Inserts go straight to the driver (SQLite ``executemany``, PostgreSQL ``COPY``) from
rows built where records are parsed, not through ORM objects: the store must take
registry-scale bulk loads (hundreds of thousands of studies) quickly.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import JSON, Column, Connection, Table, delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from db.changes import diff_raw, diff_sites, diff_trial
from db.display import public_origin
from db.models import (
    Arm,
    ChangeEvent,
    Criterion,
    Intervention,
    Quarantine,
    Site,
    SourceRecord,
    Trial,
    TrialCondition,
    TrialNeeds,
)
from db.record import NormalizedTrial
from db.rows import (
    ARM_COLUMNS,
    CONDITION_COLUMNS,
    CRITERION_COLUMNS,
    INTERVENTION_COLUMNS,
    NEEDS_AT,
    SITE_COLUMNS,
    TRIAL_COLUMNS,
    Values,
    arm_values,
    condition_values,
    intervention_values,
    needs_summary,
    site_values,
    trial_values,
)
from db.search import CLOSED_SITE_STATUSES, SEARCH, search_row

TRIAL: Table = Trial.__table__  # type: ignore[attr-defined]
SITE: Table = Site.__table__  # type: ignore[attr-defined]
CONDITION: Table = TrialCondition.__table__  # type: ignore[attr-defined]
ARM: Table = Arm.__table__  # type: ignore[attr-defined]
INTERVENTION: Table = Intervention.__table__  # type: ignore[attr-defined]
CRITERION: Table = Criterion.__table__  # type: ignore[attr-defined]
SOURCE: Table = SourceRecord.__table__  # type: ignore[attr-defined]
QUARANTINE: Table = Quarantine.__table__  # type: ignore[attr-defined]
CHANGE: Table = ChangeEvent.__table__  # type: ignore[attr-defined]
NEEDS: Table = TrialNeeds.__table__  # type: ignore[attr-defined]
CHILDREN = (SITE, CONDITION, ARM, INTERVENTION, CRITERION, NEEDS)
NEEDS_COLUMNS = ("nct_id", "needs")
SEARCH_COLUMNS = tuple(c.name for c in SEARCH.c)
SOURCE_COLUMNS = (
    "nct_id",
    "source",
    "content_hash",
    "version_date",
    "last_update_post_date",
    "origin",
    "fetched_at",
    "raw",
)
_STORED_TRIAL_COLUMNS = TRIAL_COLUMNS[:-2]  # the values a record brings: all but the timestamps

# Level 1: the raw record is kept for re-normalization, not archival density;
# higher levels cost more CPU than the whole parse on bulk loads.
COMPRESS_LEVEL = 1


class StoreRows(NamedTuple):
    """A record's rows as value tuples in column order, JSON columns already encoded.

    Built where the record is parsed (a worker process on bulk loads): tuples of plain
    values pickle ~15x faster than the parsed record's objects, and the writing process
    only hands them to the driver.
    """

    trial: Values  # TRIAL_COLUMNS but the two timestamps, set when stored
    sites: list[Values]
    conditions: list[Values]
    arms: list[Values]
    interventions: list[Values]
    criteria: list[Values]
    search: Values  # SEARCH_COLUMNS


class PreparedRecord(NamedTuple):
    """A parsed record ready to store: its rows, its raw source bytes (compressed) and their hash.

    A named tuple, like its rows: workers send records back pickled, and a tuple unpickles
    in two thirds of a slotted dataclass's time."""

    nct_id: str
    source: str
    last_update_post_date: str | None
    version_date: str | None
    content_hash: str  # of the canonical bytes (sorted-key JSON, or the XML/page as read)
    origin: str | None
    compressed: bytes  # zlib stream of the raw source record
    rows: StoreRows

    def raw(self) -> bytes:
        return zlib.decompress(self.compressed)

    def version_key(self) -> tuple[str, str]:
        return (self.last_update_post_date or "", self.version_date or "")


def prepare_record(
    trial: NormalizedTrial,
    *,
    raw: bytes,
    content_hash: str,
    origin: str | None = None,
    criteria: Sequence[dict[str, Any]] = (),
    compressed: bytes = b"",
) -> PreparedRecord:
    """Package a parsed record (``criteria``: criterion rows sans nct_id). ``compressed``, when
    given, is the record's bytes as the source held them, already a zlib stream (a zip member's
    deflate data): it is stored in place of ``raw``, the canonical bytes ``content_hash`` is of."""
    nct_id = trial.nct_id
    search = search_row(trial)
    rows = StoreRows(
        trial=_encoded(TRIAL, _STORED_TRIAL_COLUMNS, [trial_values(trial, content_hash=content_hash)])[0],
        sites=_encoded(SITE, SITE_COLUMNS, site_values(trial)),
        conditions=condition_values(trial),
        arms=_encoded(ARM, ARM_COLUMNS, arm_values(trial)),
        interventions=_encoded(INTERVENTION, INTERVENTION_COLUMNS, intervention_values(trial)),
        criteria=_encoded(
            CRITERION, CRITERION_COLUMNS, [(nct_id, *(c[k] for k in CRITERION_COLUMNS[1:])) for c in criteria]
        ),
        search=tuple(search[k] for k in SEARCH_COLUMNS),
    )
    return PreparedRecord(
        nct_id=nct_id,
        source=trial.source,
        last_update_post_date=trial.last_update_post_date,
        version_date=trial.version_date,
        content_hash=content_hash,
        origin=public_origin(origin),  # shown by the API: no credentials, no server paths
        compressed=compressed or zlib.compress(raw, COMPRESS_LEVEL),
        rows=rows,
    )


_JSON_AT: dict[tuple[str, tuple[str, ...]], list[int]] = {}


def _json_positions(table: Table, columns: tuple[str, ...]) -> list[int]:
    key = (table.name, columns)
    if key not in _JSON_AT:
        _JSON_AT[key] = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    return _JSON_AT[key]


def _encoded(table: Table, columns: tuple[str, ...], rows: list[Values]) -> list[Values]:
    """JSON columns serialized as the engine's serializer would. The trial's go through
    SQLAlchemy's JSON type on updates, which stores None as JSON ``null``; child rows
    have always been written straight to the driver, None as SQL NULL."""
    positions = _json_positions(table, columns)
    if not positions or not rows:
        return rows
    null_as_json = table is TRIAL
    out = []
    for row in rows:
        values = list(row)
        for i in positions:
            if values[i] is not None or null_as_json:
                values[i] = orjson.dumps(values[i]).decode()
        out.append(tuple(values))
    return out


def _decoded(table: Table, columns: tuple[str, ...], row: Values) -> dict[str, Any]:
    """An encoded row back as a dict of Python values (for diffs and ORM-style updates)."""
    values = list(row)
    for i in _json_positions(table, columns):
        if values[i] is not None:
            values[i] = orjson.loads(values[i])
    return dict(zip(columns, values, strict=True))


@dataclass(slots=True)
class BatchOutcome:
    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    # Versions with the same dates as another (in the batch or stored) but other content.
    conflicts: list[str] = field(default_factory=list)
    change_events: int = 0


def upsert_batch(
    conn: Connection, records: Sequence[PreparedRecord], *, run_id: int | None = None
) -> BatchOutcome:
    """Store one batch inside the caller's transaction."""
    outcome = BatchOutcome()
    now = datetime.now(UTC)
    # Within a batch the newest version of each id wins; the others are stale or unchanged.
    # Two versions with the same dates but different content conflict: the one with the
    # higher content hash wins, whatever the order they came in (a load is repeatable).
    newest: dict[str, PreparedRecord] = {}
    for rec in records:
        held = newest.get(rec.nct_id)
        if held is None:
            newest[rec.nct_id] = rec
        elif rec.content_hash == held.content_hash:
            outcome.unchanged.append(rec.nct_id)
        elif (rec.version_key(), rec.content_hash) > (held.version_key(), held.content_hash):
            (outcome.conflicts if rec.version_key() == held.version_key() else outcome.stale).append(
                held.nct_id
            )
            newest[rec.nct_id] = rec
        else:
            (outcome.conflicts if rec.version_key() == held.version_key() else outcome.stale).append(
                rec.nct_id
            )

    stored = {
        row.nct_id: row
        for row in conn.execute(
            select(
                TRIAL.c.nct_id,
                TRIAL.c.content_hash,
                TRIAL.c.last_update_post_date,
                TRIAL.c.version_date,
            ).where(TRIAL.c.nct_id.in_(list(newest)))
        )
    }
    fresh: list[PreparedRecord] = []
    newer: list[PreparedRecord] = []
    for nct_id, rec in newest.items():
        row = stored.get(nct_id)
        if row is None:
            fresh.append(rec)
            continue
        stored_key = (row.last_update_post_date or "", row.version_date or "")
        if row.content_hash == rec.content_hash:
            outcome.unchanged.append(nct_id)
        elif rec.version_key() > stored_key:
            newer.append(rec)
        elif rec.version_key() == stored_key:
            outcome.conflicts.append(nct_id)
            if rec.content_hash > row.content_hash:
                newer.append(rec)
        else:
            outcome.stale.append(nct_id)

    if newer:
        outcome.change_events = _record_changes(conn, newer, run_id=run_id, now=now)
        ids = [r.nct_id for r in newer]
        for table in (*CHILDREN, SEARCH):
            conn.execute(delete(table).where(table.c.nct_id.in_(ids)))
        for rec in newer:
            values = _decoded(TRIAL, _STORED_TRIAL_COLUMNS, rec.rows.trial)
            conn.execute(update(TRIAL).where(TRIAL.c.nct_id == rec.nct_id).values(updated_at=now, **values))
            conn.execute(delete(SOURCE).where(SOURCE.c.nct_id == rec.nct_id, SOURCE.c.source == rec.source))
        outcome.updated.extend(ids)
    if fresh:
        stamp = _bound(conn, TRIAL.c.ingested_at, now)
        insert_values(conn, TRIAL, TRIAL_COLUMNS, [(*r.rows.trial, stamp, stamp) for r in fresh])
        outcome.inserted.extend(r.nct_id for r in fresh)
    changed = fresh + newer
    if changed:
        _insert_rows(conn, changed, now=now)
    return outcome


def _needs(criteria: list[Values]) -> str | None:
    return needs_summary(row[NEEDS_AT] for row in criteria)


def _bound(conn: Connection, column: Column[Any], value: Any) -> Any:
    """``value`` as SQLAlchemy would bind it to ``column`` (SQLite datetimes are text)."""
    processor = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return processor(value) if processor is not None else value


def _insert_rows(conn: Connection, records: Sequence[PreparedRecord], *, now: datetime) -> None:
    """Child rows, search documents and raw sources of records whose trial row is written."""
    fetched_at = _bound(conn, SOURCE.c.fetched_at, now)
    indexing = _indexing_deferred(conn) if len(records) >= SET_BASED_INDEXING_FROM else None
    for table, columns, rows in (
        (SITE, SITE_COLUMNS, [v for r in records for v in r.rows.sites]),
        (CONDITION, CONDITION_COLUMNS, [v for r in records for v in r.rows.conditions]),
        (ARM, ARM_COLUMNS, [v for r in records for v in r.rows.arms]),
        (INTERVENTION, INTERVENTION_COLUMNS, [v for r in records for v in r.rows.interventions]),
        (CRITERION, CRITERION_COLUMNS, [v for r in records for v in r.rows.criteria]),
        (NEEDS, NEEDS_COLUMNS, [(r.nct_id, n) for r in records if (n := _needs(r.rows.criteria))]),
        (SEARCH, SEARCH_COLUMNS, [r.rows.search for r in records]),
        (
            SOURCE,
            SOURCE_COLUMNS,
            [
                (
                    r.nct_id,
                    r.source,
                    r.content_hash,
                    r.version_date,
                    r.last_update_post_date,
                    r.origin,
                    fetched_at,
                    r.compressed,
                )
                for r in records
            ],
        ),
    ):
        if rows:
            insert_values(conn, table, columns, rows)
    if indexing is not None:
        _index_new_rows(conn, indexing)


# SQLite keeps the R*Tree over site coordinates and the FTS5 indexes over search documents
# (every one, and the open trials') current with row triggers (migrations 0002, 0004, 0007).
# Fired row by row they cost as much as the rest of a batch's writes (each insert then needs
# a statement journal), so a batch of many records drops the insert triggers inside its own transaction, inserts, indexes
# its new rows with one statement each (the triggers' own action, in the same id order)
# and creates the triggers again: every committed state has its triggers and every row
# indexed, so a crash mid-load leaves nothing to repair.
SET_BASED_INDEXING_FROM = 50  # records in a batch
_INDEXERS = {
    "site_rtree_insert": (
        "site",
        "INSERT INTO site_rtree SELECT id, latitude, latitude, longitude, longitude FROM site "
        "WHERE id > ? AND latitude IS NOT NULL AND longitude IS NOT NULL ORDER BY id",
    ),
    "trial_search_doc_insert": (
        "trial_search_doc",
        "INSERT INTO trial_search (rowid, title, conditions, mesh) "
        "SELECT id, title, conditions, mesh FROM trial_search_doc WHERE id > ? ORDER BY id",
    ),
    "trial_search_open_insert": (  # the open trials' full-text index (migration 0007)
        "trial_search_doc",
        "INSERT INTO trial_search_open (rowid, title, conditions, mesh) "
        "SELECT id, title, conditions, mesh FROM trial_search_doc WHERE id > ? AND is_open = 1 ORDER BY id",
    ),
    "site_open_insert": (  # the open trials' open sites by document (migration 0007)
        "trial_search_doc",
        "INSERT INTO site_open SELECT d.id, s.latitude, s.longitude, s.id FROM trial_search_doc d "
        "JOIN site s ON s.nct_id = d.nct_id WHERE d.id > ? AND d.is_open = 1 "
        "AND s.latitude IS NOT NULL AND s.longitude IS NOT NULL "
        f"AND (s.status IS NULL OR s.status NOT IN ({', '.join(repr(x) for x in CLOSED_SITE_STATUSES)}))",
    ),
}


@dataclass(slots=True)
class _Deferred:
    triggers: dict[str, str]  # name → its CREATE statement, as stored
    marks: dict[str, int]  # name → the table's highest id before the batch's inserts


def _indexing_deferred(conn: Connection) -> _Deferred | None:
    """Drop the insert triggers for this transaction (SQLite only), noting where new rows begin."""
    if conn.dialect.name != "sqlite" or not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        return None  # DDL outside a transaction would be committed at once
    names = list(_INDEXERS)
    rows = conn.exec_driver_sql(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN ({', '.join('?' * len(names))})",
        tuple(names),
    ).all()
    triggers = {row.name: row.sql for row in rows}
    if len(triggers) != len(names):
        return None  # a schema older than the indexes: nothing to defer
    marks = {}
    for name in names:
        table = _INDEXERS[name][0]
        marks[name] = conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}").scalar_one()
        conn.exec_driver_sql(f"DROP TRIGGER {name}")
    return _Deferred(triggers, marks)


def _index_new_rows(conn: Connection, deferred: _Deferred) -> None:
    for name, (_, sql) in _INDEXERS.items():
        conn.exec_driver_sql(sql, (deferred.marks[name],))
        conn.exec_driver_sql(deferred.triggers[name])


def insert_values(conn: Connection, table: Table, columns: Sequence[str], rows: list[Values]) -> None:
    """Rows straight to the driver (SQLite ``executemany``, PostgreSQL ``COPY``): a bulk load's
    writes are millions of rows, and SQLAlchemy's per-row parameter processing cost as much
    as parsing the records.
    Values must be as the driver takes them (JSON serialized: see :func:`prepare_record`)."""
    if conn.dialect.name == "postgresql":
        # COPY: one stream per table and batch instead of a statement per row.
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        dbapi = conn.dialect.loaded_dbapi
        try:
            with conn.connection.dbapi_connection.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        except dbapi.Error as exc:
            # As SQLAlchemy would raise it: the pipeline stores a refused batch record by record.
            raise DBAPIError.instance(sql, None, exc, dbapi.Error, dialect=conn.dialect) from exc
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    conn.exec_driver_sql(sql, rows)


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """:func:`insert_values` of dict rows of plain values (JSON columns serialized here)."""
    columns = tuple(rows[0])
    insert_values(
        conn, table, columns, _encoded(table, columns, [tuple(r[c] for c in columns) for r in rows])
    )


def _record_changes(
    conn: Connection, records: Sequence[PreparedRecord], *, run_id: int | None, now: datetime
) -> int:
    """Diff each newer record against the stored version and write change events."""
    ids = [r.nct_id for r in records]
    old_trials = {
        row["nct_id"]: dict(row)
        for row in conn.execute(select(TRIAL).where(TRIAL.c.nct_id.in_(ids))).mappings()
    }
    old_sites: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(
        select(SITE).where(SITE.c.nct_id.in_(ids)).order_by(SITE.c.nct_id, SITE.c.position)
    ).mappings():
        old_sites.setdefault(row["nct_id"], []).append(dict(row))
    source_of = {r.nct_id: r.source for r in records}
    old_raw = {
        row.nct_id: zlib.decompress(row.raw)
        for row in conn.execute(
            select(SOURCE.c.nct_id, SOURCE.c.source, SOURCE.c.raw).where(SOURCE.c.nct_id.in_(ids))
        )
        if row.source == source_of[row.nct_id]
    }
    events: list[dict[str, Any]] = []
    for rec in records:
        nct_id = rec.nct_id
        old = old_trials[nct_id]
        new = _decoded(TRIAL, _STORED_TRIAL_COLUMNS, rec.rows.trial)
        found = diff_trial(old, new)
        found += diff_sites(
            old_sites.get(nct_id, []), [_decoded(SITE, SITE_COLUMNS, v) for v in rec.rows.sites]
        )
        if nct_id in old_raw:
            found += diff_raw(old_raw[nct_id], rec.raw())
        for kind, field_name, old_value, new_value in found:
            events.append(
                {
                    "nct_id": nct_id,
                    "run_id": run_id,
                    "kind": kind,
                    "field": field_name,
                    "old_value": old_value,
                    "new_value": new_value,
                    "old_version": old.get("version_date"),
                    "new_version": rec.version_date,
                    "detected_at": now,
                }
            )
    if events:
        conn.execute(insert(CHANGE), events)
    return len(events)


def quarantine_record(
    conn: Connection,
    *,
    raw: bytes,
    content_hash: str,
    reason: str,
    nct_id: str | None,
    origin: str | None,
) -> None:
    """Keep a bad record with its reason; the same bad record twice is one row."""
    now = datetime.now(UTC)
    origin = public_origin(origin)
    existing = conn.execute(select(QUARANTINE.c.id).where(QUARANTINE.c.content_hash == content_hash)).first()
    if existing is not None:
        conn.execute(
            update(QUARANTINE)
            .where(QUARANTINE.c.id == existing.id)
            .values(reason=reason, last_seen=now, origin=origin, nct_id=nct_id)
        )
        return
    conn.execute(
        insert(QUARANTINE),
        {
            "content_hash": content_hash,
            "nct_id": nct_id,
            "origin": origin,
            "reason": reason,
            "first_seen": now,
            "last_seen": now,
            "raw": zlib.compress(raw, COMPRESS_LEVEL),
        },
    )
