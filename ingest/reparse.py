"""Re-run the criteria parser over the whole store (``trialsite criteria reparse``).

When the parser improves, stored rules are rebuilt from each trial's stored
criteria text: no re-fetching. Trials are read in keyset-paginated batches, so
memory stays bounded and no long read transaction is held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, delete, select

from db.rows import needs_summary
from db.upsert import CRITERION, NEEDS, TRIAL, bulk_insert
from ingest.pipeline import criteria_rows


def reparse_criteria(
    engine: Engine,
    *,
    pending_only: bool = False,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Rebuild every trial's criterion rows — or, with ``pending_only``, only those of trials
    whose criteria were never parsed (a bulk load with deferred criteria); returns counts."""
    counts = {"trials": 0, "items": 0, "items_with_rules": 0, "needs_review": 0}
    last = ""
    while True:
        with engine.connect() as conn:
            query = select(TRIAL.c.nct_id, TRIAL.c.eligibility_criteria).where(TRIAL.c.nct_id > last)
            if pending_only:
                parsed = select(CRITERION.c.nct_id).where(CRITERION.c.nct_id == TRIAL.c.nct_id).exists()
                query = query.where(TRIAL.c.eligibility_criteria.is_not(None), ~parsed)
            batch = conn.execute(query.order_by(TRIAL.c.nct_id).limit(batch_size)).all()
        if not batch:
            return counts
        rows: list[dict[str, Any]] = []
        needs: list[dict[str, Any]] = []
        for nct_id, text in batch:
            items = criteria_rows(text)
            if summary := needs_summary(i["needs"] for i in items):
                needs.append({"nct_id": nct_id, "needs": summary})
            counts["items"] += len(items)
            counts["items_with_rules"] += sum(1 for i in items if i["rules"])
            counts["needs_review"] += sum(1 for i in items if i["needs_review"])
            rows.extend({"nct_id": nct_id, **item} for item in items)
        with engine.begin() as conn:
            ids = [r.nct_id for r in batch]
            for table, table_rows in ((CRITERION, rows), (NEEDS, needs)):
                conn.execute(delete(table).where(table.c.nct_id.in_(ids)))
                if table_rows:
                    bulk_insert(conn, table, table_rows)
        counts["trials"] += len(batch)
        last = batch[-1].nct_id
        if progress is not None:
            progress(len(batch))
