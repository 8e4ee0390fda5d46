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

Inserts are Core ``executemany`` batches, not ORM objects: the store must take
registry-scale bulk loads (hundreds of thousands of studies) quickly.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Table, delete, insert, select, update

from db.changes import diff_raw, diff_sites, diff_trial
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
)
from db.record import NormalizedTrial
from db.rows import arm_rows, condition_rows, intervention_rows, site_rows, trial_row
from db.search import replace_search_rows

TRIAL: Table = Trial.__table__  # type: ignore[attr-defined]
SITE: Table = Site.__table__  # type: ignore[attr-defined]
CONDITION: Table = TrialCondition.__table__  # type: ignore[attr-defined]
ARM: Table = Arm.__table__  # type: ignore[attr-defined]
INTERVENTION: Table = Intervention.__table__  # type: ignore[attr-defined]
CRITERION: Table = Criterion.__table__  # type: ignore[attr-defined]
SOURCE: Table = SourceRecord.__table__  # type: ignore[attr-defined]
QUARANTINE: Table = Quarantine.__table__  # type: ignore[attr-defined]
CHANGE: Table = ChangeEvent.__table__  # type: ignore[attr-defined]
CHILDREN = (SITE, CONDITION, ARM, INTERVENTION, CRITERION)

# Level 1: the raw record is kept for re-normalization, not archival density;
# higher levels cost more CPU than the whole parse on bulk loads.
COMPRESS_LEVEL = 1


@dataclass(slots=True)
class PreparedRecord:
    """A parsed record ready to store, with its canonical raw bytes and their hash."""

    trial: NormalizedTrial
    raw: bytes  # canonical bytes of the source record (sorted-key JSON, or the XML/page as read)
    content_hash: str
    origin: str | None = None
    criteria: list[dict[str, Any]] = field(default_factory=list)  # criterion rows sans nct_id
    compressed: bytes = b""  # zlib of raw; filled where the record is prepared

    def compressed_raw(self) -> bytes:
        return self.compressed or zlib.compress(self.raw, COMPRESS_LEVEL)

    def version_key(self) -> tuple[str, str]:
        return (self.trial.last_update_post_date or "", self.trial.version_date or "")


@dataclass(slots=True)
class BatchOutcome:
    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    change_events: int = 0


def upsert_batch(
    conn: Connection, records: Sequence[PreparedRecord], *, run_id: int | None = None
) -> BatchOutcome:
    """Store one batch inside the caller's transaction."""
    outcome = BatchOutcome()
    now = datetime.now(UTC)
    # Within a batch the newest version of each id wins; the others are stale or unchanged.
    newest: dict[str, PreparedRecord] = {}
    for rec in records:
        held = newest.get(rec.trial.nct_id)
        if held is None or rec.version_key() > held.version_key():
            if held is not None:
                outcome.stale.append(held.trial.nct_id)
            newest[rec.trial.nct_id] = rec
        elif rec.content_hash == held.content_hash:
            outcome.unchanged.append(rec.trial.nct_id)
        else:
            outcome.stale.append(rec.trial.nct_id)

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
        elif row.content_hash == rec.content_hash:
            outcome.unchanged.append(nct_id)
        elif rec.version_key() > (row.last_update_post_date or "", row.version_date or ""):
            newer.append(rec)
        else:
            outcome.stale.append(nct_id)

    if newer:
        outcome.change_events = _record_changes(conn, newer, run_id=run_id, now=now)
        ids = [r.trial.nct_id for r in newer]
        for table in CHILDREN:
            conn.execute(delete(table).where(table.c.nct_id.in_(ids)))
        for rec in newer:
            values = trial_row(rec.trial, content_hash=rec.content_hash, now=now)
            del values["ingested_at"]
            conn.execute(update(TRIAL).where(TRIAL.c.nct_id == rec.trial.nct_id).values(**values))
        outcome.updated.extend(ids)
    if fresh:
        conn.execute(insert(TRIAL), [trial_row(r.trial, content_hash=r.content_hash, now=now) for r in fresh])
        outcome.inserted.extend(r.trial.nct_id for r in fresh)
    changed = fresh + newer
    if changed:
        _insert_children(conn, changed)
        replace_search_rows(conn, [r.trial for r in changed])
        _save_sources(conn, changed, now=now, replace=newer)
    return outcome


def _insert_children(conn: Connection, records: Iterable[PreparedRecord]) -> None:
    sites: list[dict[str, Any]] = []
    conditions: list[dict[str, Any]] = []
    arms: list[dict[str, Any]] = []
    interventions: list[dict[str, Any]] = []
    criteria: list[dict[str, Any]] = []
    for rec in records:
        sites.extend(site_rows(rec.trial))
        conditions.extend(condition_rows(rec.trial))
        arms.extend(arm_rows(rec.trial))
        interventions.extend(intervention_rows(rec.trial))
        criteria.extend({"nct_id": rec.trial.nct_id, **c} for c in rec.criteria)
    for table, rows in (
        (SITE, sites),
        (CONDITION, conditions),
        (ARM, arms),
        (INTERVENTION, interventions),
        (CRITERION, criteria),
    ):
        if rows:
            bulk_insert(conn, table, rows)


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """``executemany`` straight to the driver: child rows are most of a bulk load's writes,
    and SQLAlchemy's per-row parameter processing cost as much as parsing the records.
    Only for tables of plain values: JSON columns are serialized here, no datetimes."""
    columns = list(rows[0])
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    conn.exec_driver_sql(
        sql,
        [
            tuple(
                (None if row[c] is None else orjson.dumps(row[c]).decode()) if c in json_columns else row[c]
                for c in columns
            )
            for row in rows
        ],
    )


def _save_sources(
    conn: Connection,
    records: Sequence[PreparedRecord],
    *,
    now: datetime,
    replace: Sequence[PreparedRecord] = (),
) -> None:
    for rec in replace:
        conn.execute(
            delete(SOURCE).where(SOURCE.c.nct_id == rec.trial.nct_id, SOURCE.c.source == rec.trial.source)
        )
    conn.execute(
        insert(SOURCE),
        [
            {
                "nct_id": r.trial.nct_id,
                "source": r.trial.source,
                "content_hash": r.content_hash,
                "version_date": r.trial.version_date,
                "last_update_post_date": r.trial.last_update_post_date,
                "origin": r.origin,
                "fetched_at": now,
                "raw": r.compressed_raw(),
            }
            for r in records
        ],
    )


def _record_changes(
    conn: Connection, records: Sequence[PreparedRecord], *, run_id: int | None, now: datetime
) -> int:
    """Diff each newer record against the stored version and write change events."""
    ids = [r.trial.nct_id for r in records]
    old_trials = {
        row["nct_id"]: dict(row)
        for row in conn.execute(select(TRIAL).where(TRIAL.c.nct_id.in_(ids))).mappings()
    }
    old_sites: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(
        select(SITE).where(SITE.c.nct_id.in_(ids)).order_by(SITE.c.nct_id, SITE.c.position)
    ).mappings():
        old_sites.setdefault(row["nct_id"], []).append(dict(row))
    source_of = {r.trial.nct_id: r.trial.source for r in records}
    old_raw = {
        row.nct_id: zlib.decompress(row.raw)
        for row in conn.execute(
            select(SOURCE.c.nct_id, SOURCE.c.source, SOURCE.c.raw).where(SOURCE.c.nct_id.in_(ids))
        )
        if row.source == source_of[row.nct_id]
    }
    events: list[dict[str, Any]] = []
    for rec in records:
        nct_id = rec.trial.nct_id
        old = old_trials[nct_id]
        new = trial_row(rec.trial, content_hash=rec.content_hash, now=now)
        found = diff_trial(old, new)
        found += diff_sites(old_sites.get(nct_id, []), site_rows(rec.trial))
        if nct_id in old_raw:
            found += diff_raw(old_raw[nct_id], rec.raw)
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
                    "new_version": rec.trial.version_date,
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
