"""Raw items → parsed records → the store, in batches, with quarantine and a run log.

The same path serves every source: files, the live registry and pages. Parsing
is pure (``ingest.sources``); this module only sequences it and writes.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from multiprocessing.pool import AsyncResult
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from db.display import public_source
from db.models import IngestRun
from db.rows import SITE_COLUMNS, Values
from db.state import as_utc
from db.upsert import PreparedRecord, prepare_record, quarantine_record, upsert_batch
from ingest.criteria import parse_criteria
from ingest.criteria.needs import with_needs
from ingest.files.reader import RawItem, decode_item
from ingest.liveness import process_alive
from ingest.mesh import add_mesh_ancestors
from ingest.record import NormalizedTrial, RecordError, Site
from ingest.sources import parse_item

BATCH_SIZE = 500
WINDOW = 1000  # items handed to the worker pool at a time (bounds memory)
CHUNK = 100  # items per task sent to one worker
RUN = IngestRun.__table__  # type: ignore[attr-defined]
# A run still ``running`` whose last sign of life (``finished_at`` doubles as a heartbeat
# while it runs: set at every stored batch) is older than this was killed: the next load
# marks it ``interrupted``. Longer than one registry request may take with its retries.
STALE_RUN = timedelta(minutes=30)


def mark_dead_runs(conn: Connection) -> None:
    """Mark ``interrupted`` the runs still ``running`` whose process is gone (same host) or
    whose heartbeat is older than :data:`STALE_RUN` (another host, or no process recorded)."""
    now = datetime.now(UTC)
    rows = conn.execute(
        select(RUN.c.id, RUN.c.pid, RUN.c.host, func.coalesce(RUN.c.finished_at, RUN.c.started_at)).where(
            RUN.c.status == "running"
        )
    ).all()
    dead = []
    for run_id, pid, host, beat in rows:
        if now - as_utc(beat) > STALE_RUN or (pid is not None and not process_alive(pid, host)):
            dead.append(run_id)
    if dead:
        conn.execute(update(RUN).where(RUN.c.id.in_(dead)).values(status="interrupted"))


@dataclass
class IngestSummary:
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    conflicting: int = 0  # same dates as another version, other content (see db.upsert)
    quarantined: int = 0
    change_events: int = 0
    run_id: int | None = None
    ids: list[str] = field(default_factory=list)  # ids stored or confirmed, in order seen
    inserted_ids: list[str] = field(default_factory=list)
    updated_ids: list[str] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)  # origin, nct_id, reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "conflicting": self.conflicting,
            "quarantined": self.quarantined,
            "change_events": self.change_events,
            "run_id": self.run_id,
            "ids": self.ids,
            "inserted_ids": self.inserted_ids,
            "updated_ids": self.updated_ids,
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
# A caller's identity step on each parsed record, run in this process before it is
# stored (pages: attach to the registry record of the same trial); RecordError refuses.
Resolve = Callable[[NormalizedTrial], NormalizedTrial]


@dataclass(slots=True)
class Refused:
    """An item that could not be normalized: what the quarantine keeps."""

    origin: str | None
    nct_id: str | None
    reason: str
    raw: bytes


Prepared = PreparedRecord | Refused


def prepare_item(item: RawItem, *, criteria: bool = True, resolve: Resolve | None = None) -> list[Prepared]:
    """Decode, parse and package one raw item (pure but for ``resolve``; runs in worker
    processes on bulk loads)."""
    results: list[Prepared] = []
    for record in decode_item(item):
        if record.error is not None:
            results.append(Refused(record.origin, None, record.error, record.raw))
            continue
        data = canonical_bytes(record.payload)
        try:
            trial = parse_item(record)
            add_mesh_ancestors(trial)
        except RecordError as exc:
            results.append(Refused(record.origin, exc.nct_id, str(exc), record.raw or data))
            continue
        except RecursionError:  # a page of thousands of nested elements: refused, the rest load
            reason = "nested too deeply to read (thousands of nested elements)"
            results.append(Refused(record.origin, None, reason, record.raw or data))
            continue
        if resolve is not None:
            try:
                trial = resolve(trial)
            except RecordError as exc:
                results.append(Refused(record.origin, exc.nct_id, str(exc), data))
                continue
        results.append(
            prepare_record(
                trial,
                raw=data,
                content_hash=content_hash(data),
                origin=record.origin,
                criteria=criteria_rows(trial.eligibility_criteria) if criteria else [],
                compressed=record.compressed,
            )
        )
    return results


def criteria_rows(text: str | None, *, section_hint: str | None = None) -> list[dict[str, Any]]:
    """Criterion rows (sans nct_id) for a trial's eligibility text: every item, with its rules
    and the patient facts it needs (``ingest.criteria.needs``: what matching's evaluator
    reads, stored with the rules so a match need not load an item it cannot decide)."""
    if not text:
        return []
    rows = [
        {
            "position": item.position,
            "section": item.section,
            "text": item.text,
            "rules": [rule.to_dict() for rule in item.rules],
            "needs_review": item.needs_review,
            "heading": item.heading,
            "span_start": item.span[0],
            "span_end": item.span[1],
        }
        for item in parse_criteria(text, section_hint=section_hint)
    ]
    return with_needs(rows)


def _prepare_chunk(items: list[RawItem], criteria: bool = True) -> list[list[Prepared]]:
    return [prepare_item(item, criteria=criteria) for item in items]


def _prepared(
    items: Iterable[RawItem], workers: int, criteria: bool, resolve: Resolve | None = None
) -> Iterator[list[Prepared]]:
    """``prepare_item`` over ``items``, in order; with workers, a window at a time so memory
    stays bounded and the next window is parsed while the current one is written."""
    if workers <= 0:
        yield from (prepare_item(item, criteria=criteria, resolve=resolve) for item in items)
        return
    context = multiprocessing.get_context("forkserver")
    with context.Pool(workers) as pool:
        pending: AsyncResult[list[list[list[Prepared]]]] | None = None
        iterator = iter(items)
        while True:
            window = list(islice(iterator, WINDOW))
            chunks = [window[i : i + CHUNK] for i in range(0, len(window), CHUNK)]
            task = partial(_prepare_chunk, criteria=criteria)
            submitted = pool.map_async(task, chunks, chunksize=1) if window else None
            if pending is not None:
                for chunk in pending.get():
                    yield from chunk
            if submitted is None:
                return
            pending = submitted


def ingest_items(
    engine: Engine,
    items: Iterable[RawItem],
    *,
    command: str,
    source: str | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = 0,
    resolve: Resolve | None = None,
    geocode: Callable[[Site], None] | None = None,
    criteria: bool = True,
    summary: IngestSummary | None = None,
) -> IngestSummary:
    """Parse and store ``items``; bad ones are quarantined and the load goes on.

    If ``items`` itself fails (a registry page that never arrives, an unreadable
    file), what was read before is stored, the run is logged ``failed`` and the
    error propagates; pass ``summary`` to report what was stored. A store fault
    (disk full, read-only store: ``OperationalError``) aborts without quarantining.

    ``workers`` > 0 parses in that many processes while this one writes.
    ``resolve`` maps each parsed record to the one to store (see :data:`Resolve`); it
    reads the store, so records are then parsed in this process.
    ``geocode`` fills in coordinates of sites the source gave none (matching's
    gazetteer, injected by the caller, who owns its open file).
    ``criteria=False`` defers criteria parsing (the costliest step) of a bulk load:
    ``trialsite criteria reparse --pending`` parses those trials afterwards.
    """
    summary = summary if summary is not None else IngestSummary()
    if resolve is not None:
        workers = 0
    with engine.begin() as conn:
        mark_dead_runs(conn)
        summary.run_id = conn.execute(
            insert(RUN).returning(RUN.c.id),
            {
                "command": command,
                "source": public_source(source),  # no credentials, no server paths
                "started_at": datetime.now(UTC),
                "status": "running",
                "pid": os.getpid(),
                "host": socket.gethostname(),
            },
        ).scalar_one()
    batch: list[PreparedRecord] = []
    status = "failed"
    try:
        for results in _prepared(items, workers, criteria, resolve):
            for result in results:
                summary.seen += 1
                if isinstance(result, Refused):
                    _quarantine(engine, summary, result)
                    continue
                if geocode is not None:
                    result = _geocoded(result, geocode)
                batch.append(result)
            if len(batch) >= batch_size:
                _flush(engine, batch, summary)
                batch = []
            if progress is not None:
                progress(1)
        if batch:
            _flush(engine, batch, summary)
        status = "ok" if not summary.quarantined else "partial"
    except Exception as exc:
        if batch and not isinstance(exc, DBAPIError):
            _flush(engine, batch, summary)  # nothing fetched is lost to a later failure
        raise
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


_LATITUDE = SITE_COLUMNS.index("latitude")
_CONTACTS = SITE_COLUMNS.index("contacts")


def _geocoded(record: PreparedRecord, geocode: Callable[[Site], None]) -> PreparedRecord:
    """The record with coordinates filled in for its sites that have none (on its site rows:
    a worker parsed the record, and the gazetteer lives in this process)."""
    sites: list[Values] = []
    changed = False
    for values in record.rows.sites:
        if values[_LATITUDE] is None:
            site = Site(**dict(zip(SITE_COLUMNS[2:_LATITUDE], values[2:_LATITUDE], strict=True)))
            geocode(site)
            if site.latitude is not None:
                geo = (site.latitude, site.longitude, site.geo_source, site.geo_precision)
                values = (*values[:_LATITUDE], *geo, *values[_CONTACTS:])
                changed = True
        sites.append(values)
    return record._replace(rows=record.rows._replace(sites=sites)) if changed else record


def _quarantine(engine: Engine, summary: IngestSummary, refused: Refused) -> None:
    with engine.begin() as conn:
        quarantine_record(
            conn,
            raw=refused.raw,
            content_hash=content_hash(refused.raw),
            reason=refused.reason,
            nct_id=refused.nct_id,
            origin=refused.origin,
        )
    summary.quarantined += 1
    summary.quarantine.append({"origin": refused.origin, "nct_id": refused.nct_id, "reason": refused.reason})


def _flush(engine: Engine, batch: list[PreparedRecord], summary: IngestSummary) -> None:
    try:
        with engine.begin() as conn:
            outcome = upsert_batch(conn, batch, run_id=summary.run_id)
    except OperationalError:
        raise  # the store's fault (disk full, read-only, locked), not the records'
    except DBAPIError as exc:
        if len(batch) == 1:
            # The record the database refuses is quarantined with its reason,
            # alone or in a batch (below: one by one, so it cannot sink the rest).
            record = batch[0]
            reason = f"the store refused it: {exc.orig}"
            _quarantine(engine, summary, Refused(record.origin, record.nct_id, reason, record.raw()))
            return
        for record in batch:
            _flush(engine, [record], summary)
        return
    with engine.begin() as conn:  # the run's heartbeat (see STALE_RUN)
        conn.execute(update(RUN).where(RUN.c.id == summary.run_id).values(finished_at=datetime.now(UTC)))
    summary.inserted += len(outcome.inserted)
    summary.updated += len(outcome.updated)
    summary.inserted_ids.extend(outcome.inserted)
    summary.updated_ids.extend(outcome.updated)
    summary.unchanged += len(outcome.unchanged)
    summary.stale += len(outcome.stale)
    summary.conflicting += len(outcome.conflicts)
    summary.change_events += outcome.change_events
    summary.ids.extend(r.nct_id for r in batch)
