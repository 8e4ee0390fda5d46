"""Raw items → parsed records → the store, in batches, with quarantine and a run log.

The same path serves every source: files, the live registry and pages. Parsing
is pure (``ingest.sources``); this module only sequences it and writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import DBAPIError

from db.models import IngestRun
from db.upsert import PreparedRecord, quarantine_record, upsert_batch
from ingest.files import RawItem
from ingest.record import RecordError
from ingest.sources import parse_item

BATCH_SIZE = 500
RUN = IngestRun.__table__  # type: ignore[attr-defined]


@dataclass
class IngestSummary:
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    quarantined: int = 0
    change_events: int = 0
    run_id: int | None = None
    ids: list[str] = field(default_factory=list)  # ids stored or confirmed, in order seen
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # origin, nct_id, reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "quarantined": self.quarantined,
            "change_events": self.change_events,
            "run_id": self.run_id,
            "ids": self.ids,
            "quarantine": self.quarantine,
        }

    @property
    def exit_code(self) -> int:
        return 2 if self.quarantined else 0


def canonical_bytes(payload: Any) -> bytes:
    """Stable bytes of a source record: JSON with sorted keys; XML/HTML/text as given."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


Progress = Callable[[int], None]


def ingest_items(
    engine: Engine,
    items: Iterable[RawItem],
    *,
    command: str,
    source: str | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> IngestSummary:
    """Parse and store ``items``; bad ones are quarantined and the load goes on."""
    summary = IngestSummary()
    with engine.begin() as conn:
        summary.run_id = conn.execute(
            insert(RUN).returning(RUN.c.id),
            {
                "command": command,
                "source": source,
                "started_at": datetime.now(UTC),
                "status": "running",
            },
        ).scalar_one()
    batch: list[PreparedRecord] = []
    status = "failed"
    try:
        for item in items:
            summary.seen += 1
            prepared = _prepare(engine, item, summary)
            if prepared is not None:
                batch.append(prepared)
            if len(batch) >= batch_size:
                _flush(engine, batch, summary)
                batch = []
            if progress is not None:
                progress(1)
        if batch:
            _flush(engine, batch, summary)
        status = "ok" if not summary.quarantined else "partial"
    finally:
        with engine.begin() as conn:
            conn.execute(
                update(RUN)
                .where(RUN.c.id == summary.run_id)
                .values(
                    finished_at=datetime.now(UTC),
                    seen=summary.seen,
                    inserted=summary.inserted,
                    updated=summary.updated,
                    unchanged=summary.unchanged,
                    older=summary.stale,
                    quarantined=summary.quarantined,
                    status=status,
                )
            )
    return summary


def _prepare(engine: Engine, item: RawItem, summary: IngestSummary) -> PreparedRecord | None:
    raw = item.raw or canonical_bytes(item.payload)
    if item.error is None:
        try:
            trial = parse_item(item)
        except RecordError as exc:
            reason, nct_id = str(exc), exc.nct_id
        else:
            data = canonical_bytes(item.payload)
            return PreparedRecord(trial=trial, raw=data, content_hash=content_hash(data), origin=item.origin)
    else:
        reason, nct_id = item.error, None
    _quarantine(engine, summary, raw=raw, origin=item.origin, nct_id=nct_id, reason=reason)
    return None


def _quarantine(
    engine: Engine,
    summary: IngestSummary,
    *,
    raw: bytes,
    origin: str | None,
    nct_id: str | None,
    reason: str,
) -> None:
    with engine.begin() as conn:
        quarantine_record(
            conn,
            raw=raw,
            content_hash=content_hash(raw),
            reason=reason,
            nct_id=nct_id,
            origin=origin,
        )
    summary.quarantined += 1
    summary.quarantine.append({"origin": origin, "nct_id": nct_id, "reason": reason})


def _flush(engine: Engine, batch: list[PreparedRecord], summary: IngestSummary) -> None:
    try:
        with engine.begin() as conn:
            outcome = upsert_batch(conn, batch, run_id=summary.run_id)
    except DBAPIError:
        if len(batch) == 1:
            raise
        # One record the database refuses must not sink its batch: store them one
        # by one and quarantine the one that fails, with the database's reason.
        for record in batch:
            try:
                _flush(engine, [record], summary)
            except DBAPIError as exc:
                _quarantine(
                    engine,
                    summary,
                    raw=record.raw,
                    origin=record.origin,
                    nct_id=record.trial.nct_id,
                    reason=f"the store refused it: {exc.orig}",
                )
        return
    summary.inserted += len(outcome.inserted)
    summary.updated += len(outcome.updated)
    summary.unchanged += len(outcome.unchanged)
    summary.stale += len(outcome.stale)
    summary.change_events += outcome.change_events
    summary.ids.extend(r.trial.nct_id for r in batch)
