"""Watches: add, list, remove; after a sync, the trials that started or stopped matching.

A watch's hits (``watch_hit``) are the trials it matches now: those a match (for a patient)
or a search finds, open, with an open site within the radius. A patient's match lists a
trial with a criterion the patient seems to fail too (a parsed rule may be wrong, and the
clinician judges): its alert says "likely ineligible" and which criteria. When a watch is added its hits are measured over the whole store and raise
no alert: a watch never alerts on what already matched. After a sync, each watch is asked
again over the trials changed since the last evaluation only (a trial row written, or a
change event such as a removal), and every difference from its hits is one alert:
``matches`` (a new trial, a status that opened, a site opened or added within the radius,
a trial listed again) or ``no_longer_matches`` (closed, removed, its sites gone).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, union

from db.display import strip_bidi_all
from db.models import Alert, ChangeEvent, Watch, WatchHit
from db.state import as_utc, get_state, set_state
from db.upsert import TRIAL
from matching.match import Place, match_trials, status_words
from matching.patient import parse_patient
from matching.search import SearchQuery, search_trials

WATCH: Table = Watch.__table__  # type: ignore[attr-defined]
HIT: Table = WatchHit.__table__  # type: ignore[attr-defined]
ALERT: Table = Alert.__table__  # type: ignore[attr-defined]
CHANGE: Table = ChangeEvent.__table__  # type: ignore[attr-defined]
EVALUATED = "watches_evaluated_at"  # sync_state: when the last evaluation started
# Runs in which an alert's delivery failed before it is given up (``trialsite alerts`` says so).
MAX_DELIVERY_ATTEMPTS = 5
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class WatchError(ValueError):
    """A watch that cannot be added, found or removed; the message says why."""


def add_watch(
    conn: Connection,
    name: str,
    *,
    patient: dict[str, Any] | None = None,
    condition: str | None = None,
    place: Place | None = None,
    radius_km: float | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Save a watch and the trials it matches now (which will never alert)."""
    if not _NAME.fullmatch(name):
        raise WatchError(
            f"watch name {name!r}: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if (patient is None) == (condition is None):
        raise WatchError("a watch is on a patient (--patient) or on a search (--search), one of the two")
    if conn.execute(select(WATCH.c.id).where(WATCH.c.name == name)).first():
        raise WatchError(f"a watch named {name!r} exists: remove it first (trialsite watch remove {name})")
    if patient is not None:
        parse_patient(patient, source=f"watch {name}")  # the message names the field
        radius_km = None
    now = datetime.now(UTC)
    watch_id = conn.execute(
        insert(WATCH).returning(WATCH.c.id),
        {
            "name": name,
            "kind": "patient" if patient is not None else "search",
            "patient": patient,
            "condition": condition,
            "place": place.to_dict() if place is not None else None,
            "radius_km": radius_km,
            "created_at": now,
        },
    ).scalar_one()
    watch = dict(conn.execute(select(WATCH).where(WATCH.c.id == watch_id)).mappings().one())
    hits = current_hits(conn, watch, among=None, today=today)
    if hits:
        conn.execute(insert(HIT), [{"watch_id": watch_id, "nct_id": n, "since": now} for n in hits])
    return _watch_view(watch, len(hits))


def list_watches(conn: Connection) -> list[dict[str, Any]]:
    counts: dict[int, int] = {
        watch_id: n
        for watch_id, n in conn.execute(select(HIT.c.watch_id, func.count()).group_by(HIT.c.watch_id))
    }
    rows = conn.execute(select(WATCH).order_by(WATCH.c.name)).mappings()
    return [_watch_view(dict(row), counts.get(row["id"], 0)) for row in rows]


def remove_watch(conn: Connection, name: str) -> None:
    """Delete a watch with all it stored: its patient details, hits and alerts."""
    watch_id = conn.execute(select(WATCH.c.id).where(WATCH.c.name == name)).scalar()
    if watch_id is None:
        raise WatchError(f"no watch named {name!r} (trialsite watch list shows them)")
    conn.execute(delete(ALERT).where(ALERT.c.watch_id == watch_id))
    conn.execute(delete(HIT).where(HIT.c.watch_id == watch_id))
    conn.execute(delete(WATCH).where(WATCH.c.id == watch_id))


def list_alerts(
    conn: Connection, *, watch: str | None = None, since: date | None = None
) -> list[dict[str, Any]]:
    query = (
        select(ALERT, WATCH.c.name.label("watch"))
        .join(WATCH, WATCH.c.id == ALERT.c.watch_id)
        .order_by(ALERT.c.id)
    )
    if watch is not None:
        if conn.execute(select(WATCH.c.id).where(WATCH.c.name == watch)).first() is None:
            raise WatchError(f"no watch named {watch!r} (trialsite watch list shows them)")
        query = query.where(WATCH.c.name == watch)
    if since is not None:
        query = query.where(ALERT.c.created_at >= datetime(since.year, since.month, since.day, tzinfo=UTC))
    return [alert_view(dict(row)) for row in conn.execute(query).mappings()]


def alert_view(row: dict[str, Any]) -> dict[str, Any]:
    """An alert as printed and listed: no patient detail, only the watch's name; registry
    text without bidirectional controls; how its delivery went."""
    attempts = row.get("attempts") or 0
    return alert_payload(row) | {
        "notified_at": _iso(row.get("notified_at")),
        "posted_at": _iso(row.get("posted_at")),
        "delivery_attempts_failed": attempts,
        "delivery_given_up": attempts >= MAX_DELIVERY_ATTEMPTS,
        "last_delivery_error": row.get("last_error"),
    }


def alert_payload(row: dict[str, Any]) -> dict[str, Any]:
    """An alert as piped to ``--notify-cmd`` and POSTed to ``--webhook``."""
    detail = row.get("detail") or {}
    nct_id = row["nct_id"]
    return dict(
        strip_bidi_all(
            {
                "id": row["id"],
                "watch": row["watch"],
                "kind": row["kind"],
                "nct_id": nct_id,
                "title": detail.get("title"),
                "overall_status": detail.get("overall_status"),
                "reason": row["reason"],
                "likely_ineligible": detail.get("likely_ineligible", False),
                "criteria_not_met": detail.get("criteria_not_met", []),
                "nearest_site": detail.get("nearest_site"),
                "url": f"https://clinicaltrials.gov/study/{nct_id}"
                if nct_id.upper().startswith("NCT")
                else None,
                "created_at": _iso(row["created_at"]),
            }
        )
    )


def evaluate_watches(
    conn: Connection, *, sync_run_id: int | None = None, today: date | None = None
) -> list[dict[str, Any]]:
    """Ask every watch again over the trials changed since the last evaluation; record and
    return the alerts (each difference from a watch's hits, once)."""
    watches = [dict(r) for r in conn.execute(select(WATCH).order_by(WATCH.c.id)).mappings()]
    started = datetime.now(UTC)
    mark = get_state(conn, EVALUATED)
    set_state(conn, EVALUATED, started.isoformat())
    if not watches:
        return []
    since = datetime.fromisoformat(mark) if mark else min(as_utc(w["created_at"]) for w in watches)
    changed = changed_since(conn, since)
    if not changed:
        return []
    reasons = _reasons(conn, changed, since)
    alerts: list[dict[str, Any]] = []
    for watch in watches:
        now_hits = current_hits(conn, watch, among=changed, today=today)
        before = {
            r[0]
            for r in conn.execute(
                select(HIT.c.nct_id).where(HIT.c.watch_id == watch["id"], HIT.c.nct_id.in_(changed))
            )
        }
        gained = sorted(set(now_hits) - before)
        lost = sorted(before - set(now_hits))
        if gained:
            conn.execute(
                insert(HIT), [{"watch_id": watch["id"], "nct_id": n, "since": started} for n in gained]
            )
        if lost:
            conn.execute(delete(HIT).where(HIT.c.watch_id == watch["id"], HIT.c.nct_id.in_(lost)))
        trials = _trial_details(conn, lost)
        for kind, ids, details in (("matches", gained, now_hits), ("no_longer_matches", lost, trials)):
            for nct_id in ids:
                row = {
                    "watch_id": watch["id"],
                    "nct_id": nct_id,
                    "kind": kind,
                    "reason": _reason(kind, reasons.get(nct_id, [])),
                    "detail": details.get(nct_id),
                    "sync_run_id": sync_run_id,
                    "created_at": started,
                    "attempts": 0,
                }
                row["id"] = conn.execute(insert(ALERT).returning(ALERT.c.id), row).scalar_one()
                alerts.append(alert_view(row | {"watch": watch["name"]}))
    return alerts


def current_hits(
    conn: Connection, watch: dict[str, Any], *, among: Sequence[str] | None, today: date | None = None
) -> dict[str, dict[str, Any]]:
    """The trials the watch matches now (among ``among`` only, if given), with what an
    alert shows of each."""
    place = Place(**watch["place"]) if watch.get("place") else None
    if watch["kind"] == "patient":
        patient = parse_patient(watch["patient"], source=f"watch {watch['name']}")
        outcome = match_trials(conn, patient, place, today=today, among=among)
    else:
        query = SearchQuery(
            condition=watch["condition"],
            place=place,
            radius_km=watch["radius_km"] or 100.0,
            among=tuple(among) if among is not None else None,
        )
        outcome = search_trials(conn, query)
    return {m["nct_id"]: _match_detail(m) for m in outcome.matches}


def changed_since(conn: Connection, since: datetime) -> list[str]:
    """Trials written (inserted or updated) or with a change event (a removal, a restoration)
    since ``since``."""
    query = union(
        select(TRIAL.c.nct_id).where(TRIAL.c.updated_at >= since),
        select(CHANGE.c.nct_id).where(CHANGE.c.detected_at >= since),
    )
    return sorted(r[0] for r in conn.execute(query))


# -- what an alert says -------------------------------------------------------------------


def _reasons(conn: Connection, ids: list[str], since: datetime) -> dict[str, list[str]]:
    """What happened to each trial since ``since``, in words, from its change events (and
    whether it is new)."""
    out: dict[str, list[str]] = {}
    new = conn.execute(select(TRIAL.c.nct_id).where(TRIAL.c.nct_id.in_(ids), TRIAL.c.ingested_at >= since))
    for (nct_id,) in new:
        out.setdefault(nct_id, []).append("new trial in the registry")
    events = conn.execute(
        select(CHANGE.c.nct_id, CHANGE.c.kind, CHANGE.c.field, CHANGE.c.old_value, CHANGE.c.new_value)
        .where(CHANGE.c.nct_id.in_(ids), CHANGE.c.detected_at >= since)
        .order_by(CHANGE.c.id)
    )
    for nct_id, kind, field_name, old, new_value in events:
        text = {
            "status": f"trial status {status_words(new_value)} (was {status_words(old)})",
            "site_added": f"site added: {field_name} ({status_words(new_value)})",
            "site_removed": f"site removed: {field_name}",
            "site_status": f"site {field_name}: {status_words(new_value)} (was {status_words(old)})",
            "criteria": "eligibility criteria changed",
            "removed": f"no longer listed by the registry (checked {new_value})",
            "restored": "listed by the registry again",
        }.get(kind)
        if text and text not in out.get(nct_id, []):
            out.setdefault(nct_id, []).append(text)
    return out


def _reason(kind: str, happened: list[str]) -> str:
    lead = "now matches" if kind == "matches" else "no longer matches"
    return f"{lead}: {'; '.join(happened)}" if happened else f"{lead} (details of the record changed)"


def _match_detail(match: dict[str, Any]) -> dict[str, Any]:
    site = match.get("nearest_site") or {}
    return {
        "title": match["title"],
        "overall_status": match["overall_status"],
        "likely_ineligible": bool(match.get("failed_criteria")),
        "criteria_not_met": [c.get("text") for c in match.get("failed_criteria") or []][:5],
        "nearest_site": {
            "facility": site.get("facility"),
            "city": site.get("city"),
            "country": site.get("country"),
            "status": site.get("status"),
            "distance_km": site.get("distance_km"),
        }
        if site
        else None,
    }


def _trial_details(conn: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = conn.execute(
        select(TRIAL.c.nct_id, TRIAL.c.brief_title, TRIAL.c.official_title, TRIAL.c.overall_status).where(
            TRIAL.c.nct_id.in_(ids)
        )
    )
    return {
        r.nct_id: {
            "title": r.brief_title or r.official_title,
            "overall_status": r.overall_status,
            "nearest_site": None,
        }
        for r in rows
    }


# -- plumbing -----------------------------------------------------------------------------


def _watch_view(watch: dict[str, Any], matching_now: int) -> dict[str, Any]:
    place = watch.get("place") or {}
    patient = watch.get("patient") or {}
    return {
        "name": watch["name"],
        "kind": watch["kind"],
        "condition": watch["condition"] if watch["kind"] == "search" else None,
        "conditions": patient.get("conditions", []) if watch["kind"] == "patient" else None,
        "near": place.get("name"),
        "radius_km": watch["radius_km"] if watch["kind"] == "search" else patient.get("radius_km", 100.0),
        "created_at": _iso(watch["created_at"]),
        "matching_now": matching_now,
    }


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat() if isinstance(value, datetime) else str(value)
