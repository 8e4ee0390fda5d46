"""Re-run the criteria parser over the whole store (``trialsite criteria reparse``).

When the parser improves, stored rules are rebuilt from each trial's stored
criteria text: no re-fetching. Trials are read in keyset-paginated batches, so
memory stays bounded and no long read transaction is held.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from contextlib import ExitStack
from multiprocessing.pool import AsyncResult
from typing import Any

from sqlalchemy import Engine, delete, select

from db.rows import needs_summary
from db.upsert import CRITERION, NEEDS, TRIAL, bulk_insert
from ingest.pipeline import criteria_rows

Batch = list[tuple[str, str | None]]  # (nct_id, criteria text)
Parsed = list[tuple[str, list[dict[str, Any]]]]


def _parse(batch: Batch) -> Parsed:
    return [(nct_id, criteria_rows(text)) for nct_id, text in batch]


class _Done:
    """A batch parsed in this process, with the same ``get`` as a pool's async result."""

    def __init__(self, parsed: Parsed) -> None:
        self.parts = [parsed]

    def get(self) -> list[Parsed]:
        return self.parts


def reparse_criteria(
    engine: Engine,
    *,
    pending_only: bool = False,
    batch_size: int = 500,
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Rebuild every trial's criterion rows — or, with ``pending_only``, only those of trials
    whose criteria were never parsed (a bulk load with deferred criteria); returns counts.

    With ``workers``, batches are parsed in that many processes while this one reads the
    next batch and writes the previous one (the parser is the slow stage).
    """
    counts = {"trials": 0, "items": 0, "items_with_rules": 0, "needs_review": 0}
    with ExitStack() as stack:
        pool = (
            stack.enter_context(multiprocessing.get_context("forkserver").Pool(workers)) if workers else None
        )

        def submit(batch: Batch) -> _Done | AsyncResult[list[Parsed]]:
            if pool is None:
                return _Done(_parse(batch))
            share = -(-len(batch) // workers)
            return pool.map_async(_parse, [batch[i : i + share] for i in range(0, len(batch), share)])

        last = ""
        pending: _Done | AsyncResult[list[Parsed]] | None = None
        while True:
            batch = _read(engine, last, pending_only, batch_size)
            submitted = submit(batch) if batch else None
            if pending is not None:
                parsed = [p for part in pending.get() for p in part]
                _write(engine, parsed, counts)
                if progress is not None:
                    progress(len(parsed))
            if submitted is None:
                return counts
            last = batch[-1][0]
            pending = submitted


def _read(engine: Engine, last: str, pending_only: bool, batch_size: int) -> Batch:
    """The next batch after ``last`` in id order (keyset paging: no long read transaction)."""
    with engine.connect() as conn:
        query = select(TRIAL.c.nct_id, TRIAL.c.eligibility_criteria).where(TRIAL.c.nct_id > last)
        if pending_only:
            parsed = select(CRITERION.c.nct_id).where(CRITERION.c.nct_id == TRIAL.c.nct_id).exists()
            query = query.where(TRIAL.c.eligibility_criteria.is_not(None), ~parsed)
        return [
            (r.nct_id, r.eligibility_criteria)
            for r in conn.execute(query.order_by(TRIAL.c.nct_id).limit(batch_size))
        ]


def _write(engine: Engine, parsed: Parsed, counts: dict[str, int]) -> None:
    """Replace the batch's criterion rows and needs summaries in one transaction, and count them."""
    rows: list[dict[str, Any]] = []
    needs: list[dict[str, Any]] = []
    for nct_id, items in parsed:
        if summary := needs_summary(i["needs"] for i in items):
            needs.append({"nct_id": nct_id, "needs": summary})
        counts["items"] += len(items)
        counts["items_with_rules"] += sum(1 for i in items if i["rules"])
        counts["needs_review"] += sum(1 for i in items if i["needs_review"])
        rows.extend({"nct_id": nct_id, **item} for item in items)
    with engine.begin() as conn:
        ids = [nct_id for nct_id, _ in parsed]
        for table, table_rows in ((CRITERION, rows), (NEEDS, needs)):
            conn.execute(delete(table).where(table.c.nct_id.in_(ids)))
            if table_rows:
                bulk_insert(conn, table, table_rows)
    counts["trials"] += len(parsed)
