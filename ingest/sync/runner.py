"""One sync run: watermark from the registry, listing page by page, checkpoint per page.

The watermark is the registry's own clock, never ours: at the start of a run ``GET
/version`` gives its ``dataTimestamp``; an incremental run lists the studies whose
``LastUpdatePostDate`` is on or after the day before the last succeeded run's
timestamp (the overlap day catches late postings; a record seen again is unchanged).
The watermark moves only when a run succeeds.

Each page's records, its quarantined items, the run's checkpoint (the next page token and
the counts) and the lock's heartbeat commit in one transaction. A run killed at any
instant leaves the store consistent; the next run finds it still marked ``running`` (it
holds the lock, so that run is dead), marks it ``interrupted`` and carries on from its
checkpoint — or lists from the start, with the same watermark, if the registry no longer
accepts the token. Re-storing a record is a no-op, so the store ends as an uninterrupted
run leaves it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert, select, update

from db.models import IngestRun
from db.state import get_state, set_state
from db.upsert import PreparedRecord, quarantine_record, upsert_batch
from ingest.ctgov.client import RegistryClient, RegistryError
from ingest.ctgov.query import RegistryQuery
from ingest.files.reader import JSON, RawItem
from ingest.pipeline import Refused, content_hash, prepare_item
from ingest.record import Site
from ingest.sync.lock import Lock
from ingest.sync.recover import MAX_RECOVERED, fetch_by_ids, listed_updates, missing_or_older
from ingest.sync.removal import (
    LISTING_PAGE_SIZE,
    MassRemoval,
    apply_listing,
    check_due,
    registry_ids,
    restore,
)
from ingest.sync.summary import (
    RUNS,
    WATERMARK,
    SyncSummary,
    day_before,
    is_before,
)

INGEST_RUNS: Table = IngestRun.__table__  # type: ignore[attr-defined]
COUNTS = ("seen", "inserted", "updated", "unchanged", "older", "quarantined")


def run_sync(
    engine: Engine,
    client: RegistryClient,
    *,
    full: bool = False,
    page_size: int = 1000,
    geocode: Callable[[Site], None] | None = None,
    on_page: Callable[[SyncSummary], None] | None = None,
    check_removed: bool | None = None,
    allow_mass_removal: bool = False,
    id_page_size: int = LISTING_PAGE_SIZE,
    lock: Lock | None = None,
) -> SyncSummary:
    """One run under the lock (raises :class:`~ingest.sync.lock.SyncLocked` if another holds it).

    ``check_removed``: list every NCT id after the update and mark the stored trials the
    registry no longer lists (None: when the last check is a week old by the registry's clock).
    ``lock``: a lock the caller already holds and releases (the nightly job holds one over the
    sync, the watches and the delivery of alerts); without it the run takes its own.
    """
    started = time.monotonic()
    held = lock if lock is not None else Lock.acquire(engine)
    summary = SyncSummary()
    try:
        _run(engine, client, held, summary, full=full, page_size=page_size, geocode=geocode, on_page=on_page)
        if summary.status == "succeeded":
            _check_removals(
                engine, client, held, summary, check_removed, allow_mass_removal, id_page_size, geocode
            )
    finally:
        if lock is None:
            held.release()
        summary.duration_s = round(time.monotonic() - started, 2)
    return summary


def _run(
    engine: Engine,
    client: RegistryClient,
    lock: Lock,
    summary: SyncSummary,
    *,
    full: bool,
    page_size: int,
    geocode: Callable[[Site], None] | None,
    on_page: Callable[[SyncSummary], None] | None,
) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        # This run holds the lock: a run still marked running died without a word.
        dead = conn.execute(select(RUNS.c.id, RUNS.c.ingest_run_id).where(RUNS.c.status == "running")).all()
        for run_id, ingest_run_id in dead:
            conn.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id)
                .values(status="interrupted", finished_at=now, error="stopped before it finished")
            )
            if ingest_run_id is not None:
                conn.execute(
                    update(INGEST_RUNS).where(INGEST_RUNS.c.id == ingest_run_id).values(status="interrupted")
                )
        last = conn.execute(select(RUNS).order_by(RUNS.c.id.desc()).limit(1)).mappings().first()
        watermark = get_state(conn, WATERMARK)
    base_requests = client.requests_made
    resume = (
        last if last and not full and last["status"] in ("interrupted", "failed") and last["pages"] else None
    )
    stamp = client.fetch_version()
    if watermark and is_before(stamp, watermark):
        # A mirror restored from an older snapshot, or a registry clock set back: the store
        # holds newer data than the registry says it has. The watermark never moves back.
        summary.warnings.append(
            f"the registry's data timestamp {stamp} is older than the watermark {watermark}: "
            "the watermark is kept (is --base-url an older mirror?)"
        )
        stamp = watermark
    if resume is not None:
        summary.mode, summary.since_day, token = resume["mode"], resume["since_day"], resume["page_token"]
        summary.watermark = resume["data_timestamp"] or stamp
        summary.resumed = True
    else:
        summary.mode = "incremental" if watermark and not full else "full"
        summary.since_day = (
            day_before(watermark).isoformat() if summary.mode == "incremental" and watermark else None
        )
        summary.watermark, token = stamp, None
    with engine.begin() as conn:
        ingest_run_id = conn.execute(
            insert(INGEST_RUNS).returning(INGEST_RUNS.c.id),
            {"command": "sync", "source": client.base_url, "started_at": now, "status": "running"},
        ).scalar_one()
        summary.run_id = conn.execute(
            insert(RUNS).returning(RUNS.c.id),
            {
                "mode": summary.mode,
                "status": "running",
                "started_at": now,
                "heartbeat_at": now,
                "holder": lock.holder,
                "data_timestamp": summary.watermark,
                "since_day": summary.since_day,
                "page_token": token,
                "resumed_from": resume["id"] if resume is not None else None,
                "ingest_run_id": ingest_run_id,
            },
        ).scalar_one()
        lock.beat(conn, summary.run_id)
    query = RegistryQuery(updated_since=summary.since_day, page_size=page_size)
    try:
        while True:
            try:
                studies, next_token = client.fetch_page(query, token)
            except RegistryError as exc:
                if token is not None and summary.resumed and not summary.pages and exc.status == 400:
                    token, summary.restarted_listing = None, True  # the registry forgot the token
                    continue
                raise
            if token is None:
                summary.total = client.last_total_count
            _store_page(
                engine, lock, summary, studies, next_token, ingest_run_id, client, base_requests, geocode
            )
            if on_page is not None:
                on_page(summary)
            token = next_token
            if token is None:
                break
        if summary.total is None or summary.seen != summary.total:
            # Resumed (no count to compare), or the registry changed while it was paged.
            _recover(engine, client, lock, summary, ingest_run_id, base_requests, geocode, on_page)
    except RegistryError as exc:
        summary.status, summary.error = "failed", str(exc)
        _finish(engine, summary, ingest_run_id, client.requests_made - base_requests)
        return
    except BaseException:
        summary.status, summary.error = "interrupted", "stopped before it finished"
        _finish(engine, summary, ingest_run_id, client.requests_made - base_requests)
        raise
    summary.status = "succeeded"
    _finish(engine, summary, ingest_run_id, client.requests_made - base_requests)


def _recover(
    engine: Engine,
    client: RegistryClient,
    lock: Lock,
    summary: SyncSummary,
    ingest_run_id: int,
    base_requests: int,
    geocode: Callable[[Site], None] | None,
    on_page: Callable[[SyncSummary], None] | None,
) -> None:
    """Fetch by id what the listing may have skipped: the studies it lists now that the store
    lacks or holds older (see :mod:`ingest.sync.recover`)."""
    served = summary.seen
    listed = listed_updates(client, updated_since=summary.since_day, on_page=lambda _: lock.beat_now())
    with engine.connect() as conn:
        wanted = missing_or_older(conn, listed, skip=summary.refused_ids)
    for studies in fetch_by_ids(client, wanted[:MAX_RECOVERED]):
        _store_page(engine, lock, summary, studies, None, ingest_run_id, client, base_requests, geocode)
        summary.recovered += len(studies)
        if on_page is not None:
            on_page(summary)
    if summary.total is not None:
        summary.warnings.append(
            f"the registry's listing changed while it was read ({summary.total} announced, {served} served): "
            f"{summary.recovered} {'study' if summary.recovered == 1 else 'studies'} it skipped fetched by id"
        )
    if len(wanted) > MAX_RECOVERED:
        summary.warnings.append(
            f"{len(wanted)} listed studies are missing from the store or older there; the first "
            f"{MAX_RECOVERED} were fetched (run `trialsite sync --full` for the rest)"
        )


def _store_page(
    engine: Engine,
    lock: Lock,
    summary: SyncSummary,
    studies: list[dict[str, Any]],
    next_token: str | None,
    ingest_run_id: int | None,
    client: RegistryClient,
    base_requests: int,
    geocode: Callable[[Site], None] | None,
) -> None:
    from ingest.pipeline import _geocoded

    records: list[PreparedRecord] = []
    refused: list[Refused] = []
    for study in studies:
        for result in prepare_item(RawItem(f"{client.base_url}/studies", JSON, study)):
            if isinstance(result, Refused):
                refused.append(result)
                if result.nct_id:
                    summary.refused_ids.add(result.nct_id.upper())
            else:
                records.append(_geocoded(result, geocode) if geocode is not None else result)
    with engine.begin() as conn:
        for bad in refused:
            quarantine_record(
                conn,
                raw=bad.raw,
                content_hash=content_hash(bad.raw),
                reason=bad.reason,
                nct_id=bad.nct_id,
                origin=bad.origin,
            )
        outcome = upsert_batch(conn, records, run_id=ingest_run_id) if records else None
        # A trial marked removed that the registry serves again is back.
        restored = restore(conn, [r.nct_id for r in records], ingest_run_id)
        summary.restored += len(restored)
        summary.seen += len(studies)
        summary.quarantined += len(refused)
        if outcome is not None:
            summary.inserted += len(outcome.inserted)
            summary.updated += len(outcome.updated)
            summary.unchanged += len(outcome.unchanged)
            summary.older += len(outcome.stale)
            summary.ids.extend([*outcome.inserted, *outcome.updated])
        summary.pages += 1
        summary.requests = client.requests_made - base_requests
        conn.execute(
            update(RUNS)
            .where(RUNS.c.id == summary.run_id)
            .values(
                page_token=next_token,
                pages=RUNS.c.pages + 1,
                requests=summary.requests,
                heartbeat_at=datetime.now(UTC),
                **{name: getattr(RUNS.c, name) + _delta(name, studies, refused, outcome) for name in COUNTS},
            )
        )
        lock.beat(conn, summary.run_id)


def _delta(name: str, studies: list[dict[str, Any]], refused: list[Refused], outcome: Any) -> int:
    if name == "seen":
        return len(studies)
    if name == "quarantined":
        return len(refused)
    if outcome is None:
        return 0
    return len(
        {
            "inserted": outcome.inserted,
            "updated": outcome.updated,
            "unchanged": outcome.unchanged,
            "older": outcome.stale,
        }[name]
    )


def _finish(engine: Engine, summary: SyncSummary, ingest_run_id: int, requests: int) -> None:
    summary.requests = requests
    now = datetime.now(UTC)
    with engine.begin() as conn:
        values: dict[str, Any] = {
            "status": summary.status,
            "finished_at": now,
            "error": summary.error,
            "requests": requests,
        }
        if summary.status == "succeeded":
            values["page_token"] = None
        conn.execute(update(RUNS).where(RUNS.c.id == summary.run_id).values(**values))
        ingest_status = {"succeeded": "ok" if not summary.quarantined else "partial"}.get(
            summary.status, summary.status
        )
        conn.execute(
            update(INGEST_RUNS)
            .where(INGEST_RUNS.c.id == ingest_run_id)
            .values(finished_at=now, status=ingest_status)
        )
        _copy_counts(conn, summary, ingest_run_id)
        if summary.status == "succeeded" and summary.watermark:
            # Only a succeeded run moves the watermark.
            set_state(conn, WATERMARK, summary.watermark)


def _copy_counts(conn: Connection, summary: SyncSummary, ingest_run_id: int | None) -> None:
    """The run's counts onto its ingest run (what ``stats`` shows as the last ingest)."""
    run = conn.execute(select(RUNS).where(RUNS.c.id == summary.run_id)).mappings().one()
    conn.execute(
        update(INGEST_RUNS)
        .where(INGEST_RUNS.c.id == ingest_run_id)
        .values({name: run[name] for name in COUNTS})
    )


def _check_removals(
    engine: Engine,
    client: RegistryClient,
    lock: Lock,
    summary: SyncSummary,
    asked: bool | None,
    allow_mass: bool,
    id_page_size: int,
    geocode: Callable[[Site], None] | None,
) -> None:
    """After a succeeded update: the removal check, if asked or due. Its failure (a listing
    that did not complete, a mass removal refused) marks nothing and leaves the run succeeded,
    its watermark moved; the command exits 1 with the reason. A listed study the store lacks
    (one a shifting listing skipped, see :mod:`ingest.sync.recover`) is fetched by id."""
    day = (summary.watermark or datetime.now(UTC).isoformat())[:10]
    with engine.connect() as conn:
        first = conn.execute(
            select(RUNS.c.data_timestamp).where(RUNS.c.status == "succeeded").order_by(RUNS.c.id).limit(1)
        ).scalar()
        due = check_due(conn, date.fromisoformat(day), first) if asked is None else asked
    if not due:
        return
    base_requests = client.requests_made - summary.requests

    def beat(_: object) -> None:
        with engine.begin() as conn:
            lock.beat(conn, summary.run_id)

    try:
        listed = registry_ids(client, page_size=id_page_size, on_page=beat)
        with engine.begin() as conn:
            run_id = conn.execute(select(RUNS.c.ingest_run_id).where(RUNS.c.id == summary.run_id)).scalar()
            check = apply_listing(conn, listed, day=day, run_id=run_id, allow_mass=allow_mass)
            summary.removal_check, summary.removed = "done", len(check.removed)
            summary.restored += len(check.restored)
            absent = missing_or_older(conn, dict.fromkeys(listed, ""), skip=summary.refused_ids)
        for studies in fetch_by_ids(client, absent[:MAX_RECOVERED]):
            _store_page(engine, lock, summary, studies, None, run_id, client, base_requests, geocode)
            summary.recovered += len(studies)
        if absent:
            summary.warnings.append(
                f"{len(absent)} {'study' if len(absent) == 1 else 'studies'} the registry lists "
                f"{'was' if len(absent) == 1 else 'were'} not in the store (skipped by an earlier "
                f"listing): {min(len(absent), MAX_RECOVERED)} fetched by id"
            )
            with engine.begin() as conn:
                _copy_counts(conn, summary, run_id)
    except MassRemoval as exc:
        summary.removal_check, summary.error = "refused", str(exc)
    except RegistryError as exc:
        summary.removal_check = "failed"
        summary.error = f"the listing of every NCT id did not complete, so nothing was marked removed: {exc}"
    summary.requests = client.requests_made - base_requests
    with engine.begin() as conn:
        conn.execute(
            update(RUNS)
            .where(RUNS.c.id == summary.run_id)
            .values(requests=summary.requests, removed=summary.removed, error=summary.error)
        )
