"""Candidate trials and sites, from SQL: condition full-text search, trial status, and a
bounding box around the patient on the spatial index. Nothing here scans the registry
in Python: every query is bounded by an index (FTS, R*Tree/GiST, site.nct_id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from db.search import condition_filter_sql, find_trials, match_expression, matching_ids_sql
from matching.geo import BoundingBox

# Trial statuses under which a trial can take patients (RECRUITING), or soon/only on
# invitation: those are returned but flagged (see matching.rank).
OPEN_TRIAL_STATUSES = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION")
# Site statuses that exclude a site: a recruiting trial may have closed sites.
CLOSED_SITE_STATUSES = (
    "ACTIVE_NOT_RECRUITING",
    "COMPLETED",
    "SUSPENDED",
    "TERMINATED",
    "WITHDRAWN",
    "TEMPORARILY_NOT_AVAILABLE",
    "NO_LONGER_AVAILABLE",
    "UNKNOWN",
)
# Up to this many sites in the box, candidates are found place first (R*Tree/GiST) and
# each site's trial is checked against the condition's matches; above it, condition first.
PLACE_FIRST_MAX_SITES = 20_000

TRIAL_COLUMNS = (
    "t.nct_id, t.brief_title, t.official_title, t.overall_status, t.phases, t.study_type, "
    "t.minimum_age, t.maximum_age, t.minimum_age_days, t.maximum_age_days, t.sex, "
    "t.healthy_volunteers, t.central_contacts, t.lead_sponsor"
)
SITE_COLUMNS = (
    "s.id AS site_id, s.facility, s.city, s.state, s.zip, s.country, s.country_code, "
    "s.status AS site_status, s.latitude, s.longitude, s.geo_source, s.contacts"
)


@dataclass
class Candidate:
    """One trial with the sites the SQL pre-filter kept (not yet distance-checked)."""

    trial: dict[str, Any]
    sites: list[dict[str, Any]] = field(default_factory=list)
    relevance: float = 0.0


def _in(name: str, values: Sequence[str]) -> tuple[str, dict[str, Any]]:
    keys = {f"{name}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{k}" for k in keys) + ")", keys


def _box_clause(dialect: str, box: BoundingBox, params: dict[str, Any], *, indexed: bool = True) -> str:
    """The box through the spatial index, or (``indexed=False``) as comparisons on site rows
    already found by trial: SQLite would otherwise first list every R*Tree entry in the
    box (300,000 within 450 km of Tokyo at registry scale)."""
    params.update(min_lat=box.min_lat, max_lat=box.max_lat)
    parts = []
    for i, (west, east) in enumerate(box.lon_ranges):
        params[f"west{i}"], params[f"east{i}"] = west, east
        if not indexed:
            parts.append(
                f"(s.latitude BETWEEN :min_lat AND :max_lat AND s.longitude BETWEEN :west{i} AND :east{i})"
            )
        elif dialect == "sqlite":
            parts.append(
                "s.id IN (SELECT id FROM site_rtree WHERE min_lat >= :min_lat AND max_lat <= :max_lat "
                f"AND min_lon >= :west{i} AND max_lon <= :east{i})"
            )
        else:
            parts.append(
                f"point(s.longitude, s.latitude) <@ box(point(:west{i}, :min_lat), point(:east{i}, :max_lat))"
            )
    return "(" + " OR ".join(parts) + ")"


def count_sites_in_box(conn: Connection, box: BoundingBox, cap: int) -> int:
    """How many sites lie in the box, counting no further than ``cap`` + 1, on the spatial
    index alone (SQLite: the R*Tree itself, so LIMIT stops the scan and no site row is read)."""
    params: dict[str, Any] = {}
    if conn.dialect.name == "sqlite":
        params.update(min_lat=box.min_lat, max_lat=box.max_lat)
        parts = []
        for i, (west, east) in enumerate(box.lon_ranges):
            params[f"west{i}"], params[f"east{i}"] = west, east
            parts.append(
                "SELECT id FROM site_rtree WHERE min_lat >= :min_lat AND max_lat <= :max_lat "
                f"AND min_lon >= :west{i} AND max_lon <= :east{i}"
            )
        inner = " UNION ALL ".join(parts)
    else:
        inner = f"SELECT 1 FROM site s WHERE {_box_clause('postgresql', box, params)}"
    sql = f"SELECT count(*) FROM ({inner} LIMIT {cap + 1}) AS boxed"
    return int(conn.execute(text(sql), params).scalar_one())


def find_candidates(
    conn: Connection,
    *,
    condition_alternatives: Sequence[Sequence[str]] | None,
    box: BoundingBox | None,
    statuses: Sequence[str] = OPEN_TRIAL_STATUSES,
    open_sites_only: bool = True,
    with_relevance: bool = False,
) -> list[Candidate]:
    """Trials matching the condition (if any) in ``statuses``, with their sites inside ``box``
    (all their sites when ``box`` is None).

    The plan follows selectivity. Near a patient the place usually narrows the registry
    to a few thousand sites: those are found on the spatial index and each one's trial
    is looked up in the condition's matches, computed once (see ``condition_filter_sql``).
    When the box holds more sites than ``PLACE_FIRST_MAX_SITES``, the condition's
    matching trials are found first and their sites compared with the box.
    ``with_relevance`` ranks the condition matches (for a search with no place, which
    cannot sort by distance).
    """
    dialect = conn.dialect.name
    expression = match_expression(dialect, condition_alternatives) if condition_alternatives else None
    if condition_alternatives and expression is None:
        return []
    params: dict[str, Any] = {"q": expression}
    status_sql, status_params = _in("st", statuses)
    params.update(status_params)
    where = [f"t.overall_status IN {status_sql}"]
    if open_sites_only:
        closed_sql, closed_params = _in("cs", CLOSED_SITE_STATUSES)
        params.update(closed_params)
        where.append(f"(s.status IS NULL OR s.status NOT IN {closed_sql})")
    place_first = box is not None and (
        expression is None or count_sites_in_box(conn, box, PLACE_FIRST_MAX_SITES) <= PLACE_FIRST_MAX_SITES
    )
    if box is not None:
        where.append(_box_clause(dialect, box, params, indexed=place_first))
    if expression is not None:
        if place_first:
            # On the site's nct_id, so a trial row is read only for sites whose trial matches.
            where.append(condition_filter_sql(dialect, "s.nct_id"))
        else:
            where.append(f"t.nct_id IN ({matching_ids_sql(dialect)})")
    sql = (
        f"SELECT {TRIAL_COLUMNS}, {SITE_COLUMNS} FROM site s JOIN trial t ON t.nct_id = s.nct_id "
        f"WHERE {' AND '.join(where)}"
    )
    by_trial: dict[str, Candidate] = {}
    for row in conn.execute(text(sql), params).mappings():
        candidate = by_trial.get(row["nct_id"])
        if candidate is None:
            trial = {k: row[k] for k in row if k in _TRIAL_KEYS}
            candidate = by_trial[row["nct_id"]] = Candidate(trial)
        candidate.sites.append({k: row[k] for k in row if k not in _TRIAL_KEYS})
    if with_relevance and condition_alternatives and by_trial:
        for nct_id, rank in find_trials(conn, condition_alternatives).items():
            if nct_id in by_trial:
                by_trial[nct_id].relevance = rank
    return list(by_trial.values())


_TRIAL_KEYS = frozenset(c.strip().removeprefix("t.") for c in TRIAL_COLUMNS.split(","))


def condition_presence(conn: Connection, alternatives: Sequence[Sequence[str]]) -> tuple[bool, bool]:
    """(does any trial mention the condition, does any open one) — each stops at the first row."""
    dialect = conn.dialect.name
    expression = match_expression(dialect, alternatives)
    if expression is None:
        return False, False
    ids = matching_ids_sql(dialect)
    mentioned = conn.execute(text(f"SELECT 1 FROM ({ids}) AS m LIMIT 1"), {"q": expression}).first()
    if mentioned is None:
        return False, False
    status_sql, params = _in("st", OPEN_TRIAL_STATUSES)
    open_one = conn.execute(
        text(
            f"SELECT 1 FROM ({ids}) AS m JOIN trial t ON t.nct_id = m.nct_id "
            f"WHERE t.overall_status IN {status_sql} LIMIT 1"
        ),
        {"q": expression, **params},
    ).first()
    return True, open_one is not None


def load_criteria(conn: Connection, nct_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Stored criterion items (text, section, rules) of the given trials, in order."""
    ids = list(nct_ids)
    if not ids:
        return {}
    id_sql, params = _in("id", ids)
    rows = conn.execute(
        text(
            "SELECT nct_id, position, section, text, rules, needs_review FROM criterion "
            f"WHERE nct_id IN {id_sql} ORDER BY nct_id, position"
        ),
        params,
    ).mappings()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["nct_id"], []).append(dict(row))
    return out
