"""Reads: one trial with its children, and store statistics."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Engine, Table, func, select

from db.display import public_origin, public_source
from db.models import ChangeEvent, IngestRun, Quarantine
from db.upsert import ARM, CONDITION, CRITERION, INTERVENTION, SITE, SOURCE, TRIAL

RUN: Table = IngestRun.__table__  # type: ignore[attr-defined]
QUARANTINE: Table = Quarantine.__table__  # type: ignore[attr-defined]
CHANGE: Table = ChangeEvent.__table__  # type: ignore[attr-defined]


def _children(conn: Any, table: Table, nct_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(table).where(table.c.nct_id == nct_id).order_by(table.c.position)).mappings()
    return [{k: v for k, v in row.items() if k not in {"id", "nct_id"}} for row in rows]


def get_trial(engine: Engine, nct_id: str) -> dict[str, Any] | None:
    """The stored trial as one JSON-ready dict, or None when the store has no such id."""
    key = nct_id.strip()
    with engine.connect() as conn:
        row = conn.execute(select(TRIAL).where(func.upper(TRIAL.c.nct_id) == key.upper())).mappings().first()
        if row is None:
            return None
        trial = dict(row)
        key = trial["nct_id"]
        trial["phases"] = trial["phases"].split("|") if trial["phases"] else []
        for stamp in ("ingested_at", "updated_at"):
            trial[stamp] = trial[stamp].isoformat() if trial[stamp] else None
        trial["sites"] = _children(conn, SITE, key)
        conditions = _children(conn, CONDITION, key)
        trial["conditions"] = [c["term"] for c in conditions if c["kind"] == "listed"]
        trial["mesh_terms"] = [c["term"] for c in conditions if c["kind"] == "mesh"]
        trial["mesh_ancestors"] = [c["term"] for c in conditions if c["kind"] == "mesh_ancestor"]
        trial["arms"] = _children(conn, ARM, key)
        trial["interventions"] = _children(conn, INTERVENTION, key)
        trial["criteria"] = _children(conn, CRITERION, key)
        trial["sources"] = [
            {
                "source": r.source,
                "content_hash": r.content_hash,
                # Rows stored before origins were kept public are shown public too.
                "origin": public_origin(r.origin),
                "version_date": r.version_date,
            }
            for r in conn.execute(
                select(SOURCE.c.source, SOURCE.c.content_hash, SOURCE.c.origin, SOURCE.c.version_date).where(
                    SOURCE.c.nct_id == key
                )
            )
        ]
    return trial


def get_stats(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        trials = conn.execute(select(func.count()).select_from(TRIAL)).scalar_one()
        sites = conn.execute(select(func.count()).select_from(SITE)).scalar_one()
        with_coordinates = conn.execute(
            select(func.count()).select_from(SITE).where(SITE.c.latitude.is_not(None))
        ).scalar_one()
        by_status = {
            (status or "UNKNOWN_STATUS"): count
            for status, count in conn.execute(
                select(TRIAL.c.overall_status, func.count())
                .group_by(TRIAL.c.overall_status)
                .order_by(func.count().desc())
            )
        }
        quarantined = conn.execute(select(func.count()).select_from(QUARANTINE)).scalar_one()
        changes = conn.execute(select(func.count()).select_from(CHANGE)).scalar_one()
        last = conn.execute(
            select(
                RUN.c.finished_at,
                RUN.c.command,
                RUN.c.source,
                RUN.c.status,
                RUN.c.seen,
                RUN.c.inserted,
                RUN.c.updated,
                RUN.c.quarantined,
            )
            .where(RUN.c.finished_at.is_not(None))
            .order_by(RUN.c.id.desc())
            .limit(1)
        ).first()
    return {
        "trials": trials,
        "sites": sites,
        "sites_with_coordinates": with_coordinates,
        "by_status": by_status,
        "quarantined": quarantined,
        "change_events": changes,
        "last_ingest": last.finished_at.isoformat() if last else None,
        "last_ingest_command": f"{last.command} {public_source(last.source) or ''}".strip() if last else None,
        # ok, partial (some records quarantined), failed, interrupted, running
        "last_ingest_status": last.status if last else None,
        "last_ingest_counts": (
            {
                "seen": last.seen,
                "inserted": last.inserted,
                "updated": last.updated,
                "quarantined": last.quarantined,
            }
            if last
            else None
        ),
    }


def list_quarantine(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                QUARANTINE.c.nct_id,
                QUARANTINE.c.origin,
                QUARANTINE.c.reason,
                QUARANTINE.c.last_seen,
            )
            .order_by(QUARANTINE.c.id.desc())
            .limit(limit)
        )
        return [
            {
                "nct_id": r.nct_id,
                "origin": public_origin(r.origin),
                "reason": r.reason,
                "last_seen": r.last_seen.isoformat(),
            }
            for r in rows
        ]


def list_changes(
    engine: Engine, nct_id: str | None = None, limit: int = 100, *, since: date | None = None
) -> list[dict[str, Any]]:
    """Change events, newest first: one trial's, or every trial's detected on or after ``since``."""
    query = select(CHANGE).order_by(CHANGE.c.id.desc()).limit(limit)
    if nct_id:
        query = query.where(CHANGE.c.nct_id == nct_id)
    if since is not None:
        query = query.where(CHANGE.c.detected_at >= datetime.combine(since, time.min, tzinfo=UTC))
    with engine.connect() as conn:
        return [
            {k: (v.isoformat() if k == "detected_at" else v) for k, v in row.items() if k != "id"}
            for row in conn.execute(query).mappings()
        ]
