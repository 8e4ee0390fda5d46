"""Removals: stored registry trials the registry no longer lists.

Only a listing of every NCT id that completed counts (``GET /studies?fields=NCTId``, 1000 a
page): a listing that fails half-way marks nothing. A trial missing from it is marked, never
deleted: ``trial.removed_from_registry`` holds the registry day (its ``dataTimestamp``) of
the check, a ``removed`` change event is written, and match and search skip it. A marked
trial that the registry lists again (in a listing, or as an updated record) is restored,
with a ``restored`` event. Trial pages (``PAGE-…`` ids) are not the registry's to remove.

If more than :data:`MASS_SHARE` of the stored registry trials (and more than
:data:`MASS_FLOOR` trials) would be marked at once, the listing is more likely broken (a wrong ``--base-url``, a mirror half-filled) than the
registry emptied: nothing is marked unless the caller allows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, insert, select, update

from db.models import ChangeEvent
from db.state import get_state, set_state
from db.upsert import TRIAL
from ingest.ctgov.client import PageProgress, RegistryClient
from ingest.ctgov.query import RegistryQuery

CHANGE: Table = ChangeEvent.__table__  # type: ignore[attr-defined]
CHECKED = "removal_checked"  # sync_state: the registry day of the last completed check
CHECK_EVERY = timedelta(days=7)
MASS_SHARE = 0.05
# A few removals are never "mass", however small the store (a test registry, a subset).
MASS_FLOOR = 3
LISTING_PAGE_SIZE = 1000


class MassRemoval(Exception):
    """More than :data:`MASS_SHARE` of the stored registry trials would be marked removed."""


@dataclass
class RemovalCheck:
    listed: int = 0
    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)


def registry_ids(
    client: RegistryClient,
    *,
    page_size: int = LISTING_PAGE_SIZE,
    on_page: Callable[[PageProgress], None] | None = None,
) -> set[str]:
    """Every NCT id the registry lists now; raises ``RegistryError`` unless the listing completes."""
    query = RegistryQuery(fields=("NCTId",), page_size=page_size)
    ids: set[str] = set()
    for study in client.fetch_studies(query, on_page=on_page):
        section = study.get("protocolSection") if isinstance(study, dict) else None
        module = section.get("identificationModule") if isinstance(section, dict) else None
        nct_id = module.get("nctId") if isinstance(module, dict) else None
        if isinstance(nct_id, str) and nct_id.strip():
            ids.add(nct_id.strip().upper())
    return ids


def check_due(conn: Connection, registry_day: date, first_success: str | None) -> bool:
    """Is an automatic check due: the last one (or, never checked, the first succeeded
    sync) older than :data:`CHECK_EVERY` by the registry's own clock?"""
    last = get_state(conn, CHECKED) or first_success
    if not last:
        return False
    return registry_day - date.fromisoformat(last[:10]) >= CHECK_EVERY


def apply_listing(
    conn: Connection,
    listed: set[str],
    *,
    day: str,
    run_id: int | None,
    allow_mass: bool = False,
) -> RemovalCheck:
    """Mark stored registry trials missing from a completed ``listed`` as removed on ``day``
    and restore marked ones that are listed again, in the caller's transaction."""
    rows = conn.execute(
        select(TRIAL.c.nct_id, TRIAL.c.removed_from_registry, TRIAL.c.version_date).where(
            TRIAL.c.nct_id.like("NCT%")
        )
    ).all()
    active = {r.nct_id: r.version_date for r in rows if r.removed_from_registry is None}
    gone = sorted(nct_id for nct_id in active if nct_id.upper() not in listed)
    if len(gone) > MASS_FLOOR and len(gone) > MASS_SHARE * len(active) and not allow_mass:
        raise MassRemoval(
            f"the registry's listing of {len(listed)} ids lacks {len(gone)} of the {len(active)} "
            f"registry trials stored ({100 * len(gone) / len(active):.0f} %, over the "
            f"{100 * MASS_SHARE:g} % a night's removals could be): nothing was marked removed. "
            "Check --base-url; if the registry really dropped them, run again with --allow-mass-removal"
        )
    check = RemovalCheck(listed=len(listed), removed=gone)
    versions = {r.nct_id: r.version_date for r in rows}
    if gone:
        conn.execute(update(TRIAL).where(TRIAL.c.nct_id.in_(gone)).values(removed_from_registry=day))
        _events(conn, "removed", gone, versions, run_id, new=day)
    check.restored = restore(
        conn, (r.nct_id for r in rows if r.removed_from_registry and r.nct_id.upper() in listed), run_id
    )
    set_state(conn, CHECKED, day)
    return check


def restore(conn: Connection, nct_ids: Iterable[str], run_id: int | None) -> list[str]:
    """Clear the removal mark of those of ``nct_ids`` that carry one (the registry lists them
    again), with a ``restored`` event each; returns them."""
    wanted = list(nct_ids)
    if not wanted:
        return []
    marked = conn.execute(
        select(TRIAL.c.nct_id, TRIAL.c.removed_from_registry, TRIAL.c.version_date).where(
            TRIAL.c.nct_id.in_(wanted), TRIAL.c.removed_from_registry.is_not(None)
        )
    ).all()
    if not marked:
        return []
    ids = sorted(r.nct_id for r in marked)
    conn.execute(update(TRIAL).where(TRIAL.c.nct_id.in_(ids)).values(removed_from_registry=None))
    olds = {r.nct_id: r.removed_from_registry for r in marked}
    _events(conn, "restored", ids, {r.nct_id: r.version_date for r in marked}, run_id, olds=olds)
    return ids


def _events(
    conn: Connection,
    kind: str,
    ids: list[str],
    versions: dict[str, Any],
    run_id: int | None,
    *,
    new: str | None = None,
    olds: dict[str, Any] | None = None,
) -> None:
    now = datetime.now(UTC)
    conn.execute(
        insert(CHANGE),
        [
            {
                "nct_id": nct_id,
                "run_id": run_id,
                "kind": kind,
                "field": "removed_from_registry",
                "old_value": (olds or {}).get(nct_id),
                "new_value": new,
                "old_version": versions.get(nct_id),
                "new_version": versions.get(nct_id),
                "detected_at": now,
            }
            for nct_id in ids
        ],
    )
