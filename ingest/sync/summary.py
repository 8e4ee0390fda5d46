"""A sync run's summary, the runs as stored, and the watermark.

The summary is what ``trialsite sync --json`` prints; the runs table keeps the same counts
per run (``trialsite sync --status``); the watermark is the registry's data timestamp of
the last succeeded run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, select

from db.display import public_text
from db.models import SyncRun
from db.state import get_state

RUNS: Table = SyncRun.__table__  # type: ignore[attr-defined]
WATERMARK = "watermark"
CHANGED_IDS_SHOWN = 1000


@dataclass
class SyncSummary:
    status: str = "running"  # succeeded, failed, interrupted
    mode: str = "full"
    watermark: str | None = None  # the data timestamp this run brings the store to
    since_day: str | None = None
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0
    quarantined: int = 0
    removed: int = 0  # marked removed by this run's removal check
    restored: int = 0  # listed again after being marked removed
    removal_check: str = "not due"  # not due, done, refused, failed (see ingest.sync.removal)
    alerts: int = 0  # alerts raised for watches (set by the command, after the run)
    requests: int = 0
    pages: int = 0
    total: int | None = None  # studies the registry said its listing holds (first page of a run)
    resumed: bool = False
    restarted_listing: bool = False
    recovered: int = 0  # studies a shifting listing skipped, fetched by id (ingest.sync.recover)
    run_id: int | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # said, and the run goes on
    duration_s: float = 0.0
    ids: list[str] = field(default_factory=list)  # inserted or updated, in order
    refused_ids: set[str] = field(default_factory=set)  # quarantined by this run: not fetched again

    def to_dict(self) -> dict[str, Any]:
        # The first ids changed (a full load changes every study: the log stays small).
        return {k: v for k, v in self.__dict__.items() if k not in ("ids", "refused_ids")} | {
            "changed_ids": self.ids[:CHANGED_IDS_SHOWN],
            "changed_ids_omitted": max(0, len(self.ids) - CHANGED_IDS_SHOWN),
        }

    @property
    def exit_code(self) -> int:
        if self.status != "succeeded" or self.removal_check in ("refused", "failed"):
            return 1
        return 2 if self.quarantined else 0


def day_before(timestamp: str) -> date:
    return date.fromisoformat(timestamp[:10]) - timedelta(days=1)


def get_watermark(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return get_state(conn, WATERMARK)


def list_runs(engine: Engine, limit: int = 10) -> list[dict[str, Any]]:
    """The last runs, newest first; an error is shown without credentials (rows written
    before URLs were kept without them too)."""
    with engine.connect() as conn:
        rows = conn.execute(select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)).mappings()
        return [
            {
                k: (v.isoformat() if isinstance(v, datetime) else public_text(v) if k == "error" and v else v)
                for k, v in row.items()
            }
            for row in rows
        ]


def is_before(stamp: str, watermark: str) -> bool:
    """Is the registry's ``stamp`` older than ``watermark`` (both ISO timestamps, as
    ``/version`` gives them)?"""
    try:
        return datetime.fromisoformat(stamp) < datetime.fromisoformat(watermark)
    except (ValueError, TypeError):  # not ISO, or one with a zone and one without
        return stamp < watermark
