"""Candidate trials and sites, from SQL: condition full-text search, trial status, and a
bounding box around the patient on the spatial index. Nothing here scans the registry
in Python: every query is bounded by an index (FTS, R*Tree/GiST, site.nct_id).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy import Connection, text

from db.rows import parse_needs_summary
from db.search import (
    condition_filter_sql,
    count_matching,
    find_trials,
    match_expression,
    matching_ids_sql,
)
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
# Candidates are found place first (each site in the box on the R*Tree/GiST, its trial
# checked against the condition's matches) when the box holds fewer than this many sites
# per trial matching the condition, condition first otherwise (each matching trial read,
# its sites compared with the box). Measured at registry scale on SQLite, with the covering
# site index: ~2-3 us per site in the box against ~2-3 us per matching trial; over the
# bench's 200 patients 1 beat 0.5 and 2 (sum and p95 of the candidate query). PostgreSQL
# keeps 2: there 1 and 2 measured alike.
SITES_PER_MATCH = {"sqlite": 1, "postgresql": 2}
# Sites in the box are counted no further: a box beyond it goes condition first.
PLACE_FIRST_MAX_SITES = 60_000
# A condition's matches are counted this far first: most conditions match fewer trials.
RARE_MATCHES = 5_000

TRIAL_COLUMNS = (
    "t.nct_id, t.brief_title, t.official_title, t.overall_status, t.phases, t.study_type, "
    "t.minimum_age, t.maximum_age, t.minimum_age_days, t.maximum_age_days, t.sex, "
    "t.healthy_volunteers, t.central_contacts, t.lead_sponsor"
)
SITE_COLUMNS = (
    "s.id AS site_id, s.facility, s.city, s.state, s.zip, s.country, s.country_code, "
    "s.status AS site_status, s.latitude, s.longitude, s.geo_source, s.contacts"
)
# What ranking needs (hard filters, phase, distance): all on the indexes of migration 0005,
# so light candidates read no wide row; ``complete_candidates`` adds the rest for those shown.
LIGHT_TRIAL_COLUMNS = "t.nct_id, t.overall_status, t.phases, t.minimum_age_days, t.maximum_age_days, t.sex, t.healthy_volunteers"
LIGHT_SITE_COLUMNS = "s.id AS site_id, s.latitude, s.longitude"


P = ParamSpec("P")
R = TypeVar("R")


def without_cyclic_gc(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with Python's cyclic garbage collector paused (unless someone else paused it).

    A broad match holds tens of thousands of rows, candidates and distances alive at once:
    their allocations set off full collections of the whole heap, a fifth of the slowest
    matches' time at registry scale. They make no reference cycles; the collector resumes
    after, whatever happens.
    """

    @functools.wraps(fn)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return paused


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


def _place_first(conn: Connection, box: BoundingBox, expression: str) -> bool:
    """Is the box more selective than the condition: does it hold at most
    ``SITES_PER_MATCH`` sites per trial matching the condition? Each count stops as soon
    as the answer is known, so neither index is walked further than the other's size:
    a rare condition never counts a dense box, a broad one in a small box never counts
    its matches past the box's size."""
    ratio = SITES_PER_MATCH.get(conn.dialect.name, 2)
    matches = count_matching(conn, expression, RARE_MATCHES)
    if matches <= RARE_MATCHES:
        limit = ratio * matches
        return count_sites_in_box(conn, box, limit) <= limit
    in_box = count_sites_in_box(conn, box, PLACE_FIRST_MAX_SITES)
    if in_box > PLACE_FIRST_MAX_SITES:
        return False
    cap = in_box // ratio
    return count_matching(conn, expression, cap) > cap


def find_candidates(
    conn: Connection,
    *,
    condition_alternatives: Sequence[Sequence[str]] | None,
    box: BoundingBox | None,
    statuses: Sequence[str] = OPEN_TRIAL_STATUSES,
    open_sites_only: bool = True,
    with_relevance: bool = False,
    light: bool = False,
) -> list[Candidate]:
    """Trials matching the condition (if any) in ``statuses``, with their sites inside ``box``
    (all their sites when ``box`` is None); ``light`` ones with only the columns ranking
    reads (see ``complete_candidates``).

    The plan follows selectivity. Near a patient the place usually narrows the registry
    to a few thousand sites: those are found on the spatial index and each one's trial
    is looked up in the condition's matches, computed once (see ``condition_filter_sql``).
    When the condition is the narrower (``_place_first``), its matching trials are found
    first and their sites compared with the box.
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
    place_first = box is not None and (expression is None or _place_first(conn, box, expression))
    if box is not None:
        where.append(_box_clause(dialect, box, params, indexed=place_first))
    if expression is not None:
        if place_first:
            # On the site's nct_id, so a trial is read only for sites in the box.
            where.append(condition_filter_sql(dialect, "s.nct_id"))
        else:
            where.append(f"t.nct_id IN ({matching_ids_sql(dialect)})")
    # Condition first, SQLite checks each matching trial's status (on the trial index), then
    # its sites (box and status on the site index): CROSS JOIN fixes that order.
    cond_first = dialect == "sqlite" and expression is not None and not place_first
    join = "trial t CROSS JOIN site s" if cond_first else "site s JOIN trial t"
    trial_columns, site_columns = (
        (LIGHT_TRIAL_COLUMNS, LIGHT_SITE_COLUMNS) if light else (TRIAL_COLUMNS, SITE_COLUMNS)
    )
    sql = (
        f"SELECT {trial_columns}, {site_columns} FROM {join} ON t.nct_id = s.nct_id "
        f"WHERE {' AND '.join(where)}"
    )
    by_trial: dict[str, Candidate] = {}
    # Plain tuples sliced by position: thousands of site rows per query at registry scale,
    # where a mapping per row cost as much as the SQL.
    trial_keys, site_keys = _keys(trial_columns), _keys(site_columns)
    split = len(trial_keys)
    for row in conn.execute(text(sql), params).fetchall():  # one driver call, not one per row
        candidate = by_trial.get(row[0])
        if candidate is None:
            candidate = by_trial[row[0]] = Candidate(dict(zip(trial_keys, row[:split], strict=True)))
        candidate.sites.append(dict(zip(site_keys, row[split:], strict=True)))
    if with_relevance and condition_alternatives and by_trial:
        for nct_id, rank in find_trials(conn, condition_alternatives).items():
            if nct_id in by_trial:
                by_trial[nct_id].relevance = rank
    return list(by_trial.values())


def complete_candidates(conn: Connection, candidates: Sequence[Candidate]) -> None:
    """Give light candidates (``find_candidates(light=True)``) every column, in place: the
    trial rows and site rows of these few, by id."""
    if not candidates:
        return
    dialect = conn.dialect.name
    where, params = _ids_clause(dialect, "t.nct_id", [c.trial["nct_id"] for c in candidates])
    trials = {
        row[0]: row
        for row in conn.execute(text(f"SELECT {TRIAL_COLUMNS} FROM trial t WHERE {where}"), params)
    }
    site_ids = [site["site_id"] for c in candidates for site in c.sites]
    where, params = _ids_clause(dialect, "s.id", site_ids)
    sites = {
        row[0]: row for row in conn.execute(text(f"SELECT {SITE_COLUMNS} FROM site s WHERE {where}"), params)
    }
    for candidate in candidates:
        candidate.trial.update(zip(_TRIAL_KEYS, trials[candidate.trial["nct_id"]], strict=True))
        for site in candidate.sites:
            site.update(zip(_SITE_KEYS, sites[site["site_id"]], strict=True))


def _keys(columns: str) -> tuple[str, ...]:
    """Result keys of a column list: "t.nct_id" → nct_id, "s.id AS site_id" → site_id."""
    return tuple(c.split(" AS ")[-1].strip().split(".")[-1] for c in columns.split(","))


_TRIAL_KEYS = _keys(TRIAL_COLUMNS)
_SITE_KEYS = _keys(SITE_COLUMNS)


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


def _ids_clause(dialect: str, column: str, ids: Sequence[str | int]) -> tuple[str, dict[str, Any]]:
    """``column`` among ``ids`` as one bound value, however many (no per-id placeholder)."""
    if dialect == "sqlite":
        return f"{column} IN (SELECT value FROM json_each(:ids))", {"ids": orjson.dumps(ids).decode()}
    return f"{column} = ANY(:ids)", {"ids": list(ids)}


def load_criteria(
    conn: Connection, nct_ids: Iterable[str], *, skip_needs: Sequence[str] = ()
) -> dict[str, list[dict[str, Any]]]:
    """Stored criterion items (text, section, rules) of the given trials, in order; without
    those whose stored ``needs`` is one of ``skip_needs``."""
    ids = list(nct_ids)
    if not ids:
        return {}
    dialect = conn.dialect.name
    where, params = _ids_clause(dialect, "nct_id", ids)
    if skip_needs:
        skip = orjson.dumps(list(skip_needs)).decode() if dialect == "sqlite" else list(skip_needs)
        where += (
            " AND (needs IS NULL OR needs NOT IN (SELECT value FROM json_each(:skip)))"
            if dialect == "sqlite"
            else " AND (needs IS NULL OR needs <> ALL(:skip))"
        )
        params["skip"] = skip
    rows = conn.execute(
        text(
            "SELECT nct_id, position, section, text, rules, needs_review FROM criterion "
            f"WHERE {where} ORDER BY nct_id, position"
        ),
        params,
    ).mappings()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["nct_id"], []).append(dict(row))
    return out


def criteria_needs(conn: Connection, nct_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    """Per trial, how many of its criterion items have each stored ``needs`` (see
    matching.criterion_needs): one ``trial_needs`` row per trial (migration 0006), where
    counting thousands of trials' ~50 criterion index entries each cost tens of ms."""
    if not nct_ids:
        return {}
    where, params = _ids_clause(conn.dialect.name, "nct_id", nct_ids)
    rows = conn.execute(text(f"SELECT nct_id, needs FROM trial_needs WHERE {where}"), params)
    return {nct_id: parse_needs_summary(summary) for nct_id, summary in rows}
