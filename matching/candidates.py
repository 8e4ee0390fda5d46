"""Candidate trials and sites, from SQL: condition full-text search, trial status, and a
bounding box around the patient on the spatial index. Nothing here scans the registry
in Python: every query is bounded by an index (FTS, R*Tree/GiST, site.nct_id).
"""

from __future__ import annotations

import functools
import gc
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import orjson
from sqlalchemy import Connection, text

from db.search import (
    CLOSED_SITE_STATUSES,
    OPEN_TRIAL_STATUSES,
    condition_filter_sql,
    count_matching,
    estimate_matching,
    filter_expression,
    find_trials,
    matching_ids_sql,
)
from ingest.places.distance import EARTH_RADIUS_KM, BoundingBox, bounding_box

# Candidates are found place first (each site in the box on the R*Tree/GiST, its trial
# checked against the condition's matches) when the box holds fewer than this many sites
# per trial matching the condition, condition first otherwise (each matching trial read,
# its sites compared with the box). Measured at registry scale on SQLite, with the covering
# site index: ~2-3 us per site in the box against ~2-3 us per matching trial; over the
# bench's 200 patients 1 beat 0.5 and 2 (sum and p95 of the candidate query). PostgreSQL
# keeps 2: there 1 and 2 measured alike.
SITES_PER_MATCH = {"sqlite": 1.0, "postgresql": 2.0}
# SQLite, open trials only: condition first reads each open match's sites in the box from
# ``site_open`` (~2 us a match), while place first still reads every site in the box and
# lists every match. Measured on the bench's 60 slowest patients: condition first was as
# fast at 0.17-0.2 sites per match and faster above; place first won at 0.01.
OPEN_SITES_PER_MATCH = 0.15
# Sites in the box are counted no further: a box beyond it goes condition first.
PLACE_FIRST_MAX_SITES = 60_000
# A condition's matches are counted this far first: most conditions match fewer trials.
RARE_MATCHES = 5_000
# PostgreSQL: a condition its planner estimates past this many matches is taken as broad
# (past RARE_MATCHES) without counting them. Its estimates of broad conditions run from a
# third of the count (correlated words: 32,600 for 93,600 'disc degeneration' matches) to
# near it ('lung cancer': 37,100 for 42,500), so a fourfold margin.
BROAD_ESTIMATE = 4 * RARE_MATCHES

TRIAL_COLUMNS = (
    "t.nct_id, t.brief_title, t.official_title, t.overall_status, t.phases, t.study_type, "
    "t.minimum_age, t.maximum_age, t.minimum_age_days, t.maximum_age_days, t.sex, "
    "t.healthy_volunteers, t.central_contacts, t.lead_sponsor"
)
SITE_COLUMNS = (
    "s.id AS site_id, s.facility, s.city, s.state, s.zip, s.country, s.country_code, "
    "s.status AS site_status, s.latitude, s.longitude, s.geo_source, s.contacts, s.position"
)
# What ranking needs (hard filters, phase, distance): all on the indexes of migration 0005,
# so light candidates read no wide row; ``complete_candidates`` adds the rest for those shown.
LIGHT_TRIAL_COLUMNS = "t.nct_id, t.overall_status, t.phases, t.minimum_age_days, t.maximum_age_days, t.sex, t.healthy_volunteers"


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
    """One trial with an open site in the patient's box (or anywhere, without a place): the
    columns ranking reads, its nearest open site's distance (None without a place) and its
    needs summary. ``complete_candidates`` adds the rest for those shown: every column and
    ``sites``, its open sites within the radius, nearest first, each with its distance."""

    trial: dict[str, Any]
    nearest_km: float | None = None
    needs: str | None = None
    sites: list[tuple[float | None, dict[str, Any]]] = field(default_factory=list)
    relevance: float = 0.0


class Candidates(list[Candidate]):
    """``find_candidates``' candidates, with what choosing its plan learned of the condition:
    whether any trial matches it (``mentioned``) and any open one (``open_mentioned``);
    None when not counted. A match or search that finds nothing says why from these
    (``condition_presence``) without asking the full-text index again."""

    mentioned: bool | None = None
    open_mentioned: bool | None = None


@dataclass(frozen=True, slots=True)
class Near:
    """The patient's point and radius: sites are found in its box and measured from it."""

    lat: float
    lon: float
    radius_km: float

    @property
    def box(self) -> BoundingBox:
        return bounding_box(self.lat, self.lon, self.radius_km)


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


def sites_in_box_sql(dialect: str, box: BoundingBox, cap: int) -> tuple[str, dict[str, Any]]:
    """SQL counting the sites in the box, no further than ``cap`` + 1, on the spatial index
    alone: SQLite's R*Tree itself, so LIMIT stops the scan; PostgreSQL's covering GiST
    index (migration 0008), an index-only scan. No site row is read."""
    params: dict[str, Any] = {}
    if dialect == "sqlite":
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
    return f"SELECT count(*) FROM ({inner} LIMIT {cap + 1}) AS boxed", params


def count_sites_in_box(conn: Connection, box: BoundingBox, cap: int) -> int:
    """How many sites lie in the box, counting no further than ``cap`` + 1."""
    sql, params = sites_in_box_sql(conn.dialect.name, box, cap)
    return int(conn.execute(text(sql), params).scalar_one())


def _place_first(
    conn: Connection, box: BoundingBox, expression: str, *, open_only: bool = False
) -> tuple[bool, int | None]:
    """(Is the box more selective than the condition, the condition's matches as far as
    counted: at least one when any trial matches; None when not counted). Does the box hold at most
    ``SITES_PER_MATCH`` sites per trial matching the condition (``open_only``: per open
    trial matching it, ``OPEN_SITES_PER_MATCH`` on SQLite)? Each count stops as soon as
    the answer is known, so neither index is walked further than the other's size: a rare
    condition never counts a dense box, a broad one in a small box never counts its
    matches past the box's size."""
    dialect = conn.dialect.name
    ratio = OPEN_SITES_PER_MATCH if open_only and dialect == "sqlite" else SITES_PER_MATCH.get(dialect, 2.0)
    estimate = estimate_matching(conn, expression, open_only=open_only)
    if estimate is not None and estimate > BROAD_ESTIMATE:
        matches: int | None = None  # broad, not counted
    else:
        matches = count_matching(conn, expression, RARE_MATCHES, open_only=open_only)
    if matches is not None and matches <= RARE_MATCHES:
        limit = int(ratio * matches)
        return count_sites_in_box(conn, box, limit) <= limit, matches
    # Boxes are counted as far as place first could still win, and never past the maximum.
    most = int(min(ratio, 1.0) * PLACE_FIRST_MAX_SITES)
    in_box = count_sites_in_box(conn, box, most)
    if in_box > most:
        return False, matches
    cap = int(in_box / ratio)
    if cap <= RARE_MATCHES:  # past it already: no walk of the same matches again
        return True, matches
    return count_matching(conn, expression, cap, open_only=open_only) > cap, matches


def _haversine_sql(dialect: str, near: Near, params: dict[str, Any], site: str = "s") -> str:
    """The haversine's inner term from ``near`` to the row ``site``: distance grows with it."""
    phi1 = math.radians(near.lat)
    params.update(d_phi1=phi1, d_cos_phi1=math.cos(phi1), d_lon1=near.lon)
    return (
        f"(power(sin((radians({site}.latitude) - :d_phi1) / 2), 2) "
        f"+ :d_cos_phi1 * cos(radians({site}.latitude)) * power(sin(radians({site}.longitude - :d_lon1) / 2), 2))"
    )


def _km_sql(dialect: str, haversine: str, params: dict[str, Any]) -> str:
    """Kilometres from the haversine's inner term."""
    params["d_two_r"] = 2 * EARTH_RADIUS_KM
    return f"(:d_two_r * asin({'min' if dialect == 'sqlite' else 'least'}(1.0, sqrt({haversine}))))"


def distance_sql(dialect: str, near: Near, params: dict[str, Any], site: str = "s") -> str:
    """The great-circle distance in km from ``near`` to the row ``site``: ``ingest.places.distance``'s
    haversine, its operations in the same order. A trial is ranked on its nearest site's
    distance and shown with its sites' distances: both come from these expressions, so
    they agree to the last bit (the nearest is taken on the inner term, which the
    distance grows with, and converted once)."""
    return _km_sql(dialect, _haversine_sql(dialect, near, params, site), params)


def _open_site(params: dict[str, Any]) -> str:
    closed_sql, closed_params = _in("cs", CLOSED_SITE_STATUSES)
    params.update(closed_params)
    return f"(s.status IS NULL OR s.status NOT IN {closed_sql})"


def find_candidates(
    conn: Connection,
    *,
    condition_alternatives: Sequence[Sequence[str]] | None,
    near: Near | None,
    statuses: Sequence[str] = OPEN_TRIAL_STATUSES,
    with_relevance: bool = False,
    with_needs: bool = False,
    among: Sequence[str] | None = None,
) -> Candidates:
    """Trials matching the condition (if any) in ``statuses`` with an open site in the box
    around ``near`` (anywhere when it is None), each with the distance of its nearest open
    site in the box and only the columns ranking reads (see ``complete_candidates``);
    ``with_needs``: their needs summaries too; ``among``: only these trials (a watch
    re-asked after a sync, for the trials the sync changed).

    One row per trial: SQL measures the sites and keeps each trial's nearest, where one
    Python object per site cost more than the query (tens of thousands of sites for a
    broad condition near a dense area, at registry scale).
    The plan follows selectivity (``_place_first``). When the place is the narrower, the
    sites in the box are found on the spatial index and each one's trial is looked up in
    the condition's matches, computed once (see ``condition_filter_sql``). Otherwise the
    condition's matching trials come first (only the open ones, from their own index, when
    only open statuses are asked for) and their sites are compared with the box: on
    SQLite, open trials' open sites straight from ``site_open`` (``_open_matches_near``).
    ``with_relevance`` ranks the condition matches (for a search with no place, which
    cannot sort by distance).
    """
    dialect = conn.dialect.name
    expression = filter_expression(dialect, condition_alternatives) if condition_alternatives else None
    if condition_alternatives and expression is None:
        found = Candidates()
        found.mentioned = found.open_mentioned = False
        return found
    params: dict[str, Any] = {"q": expression}
    status_sql, status_params = _in("st", statuses)
    params.update(status_params)
    box = near.box if near is not None else None
    # Only open trials asked for: the condition's open matches come from their own index.
    open_only = set(statuses) <= set(OPEN_TRIAL_STATUSES)
    place_first, matches = box is not None and expression is None, None
    if box is not None and expression is not None:
        place_first, matches = _place_first(conn, box, expression, open_only=open_only)
    if near is not None and expression is not None and open_only and not place_first and dialect == "sqlite":
        grouped = _open_matches_near(dialect, near, params)
    else:
        where = [_open_site(params)]
        if box is not None:
            where.append(_box_clause(dialect, box, params, indexed=place_first))
        if expression is not None:
            if place_first:
                # On the site's nct_id, so a trial is read only for sites in the box.
                where.append(condition_filter_sql(dialect, "s.nct_id", open_only=open_only))
            else:
                where.append(f"s.nct_id IN ({matching_ids_sql(dialect, open_only=open_only)})")
        nearest = f"min({_haversine_sql(dialect, near, params)})" if near is not None else "NULL"
        grouped = (
            f"SELECT s.nct_id AS nct_id, {nearest} AS nearest FROM site s WHERE {' AND '.join(where)} "
            "GROUP BY s.nct_id"
        )
    nearest_km = _km_sql(dialect, "g.nearest", params) if near is not None else "NULL"
    # Each trial read once, after its sites are grouped; SQLite keeps that order (CROSS JOIN).
    join = "CROSS JOIN" if dialect == "sqlite" else "JOIN"
    needs_column, needs_join = (
        (", n.needs", "LEFT JOIN trial_needs n ON n.nct_id = t.nct_id") if with_needs else ("", "")
    )
    sql = (
        f"SELECT {LIGHT_TRIAL_COLUMNS}, {nearest_km}{needs_column} FROM ({grouped}) AS g "
        f"{join} trial t ON t.nct_id = g.nct_id {needs_join} WHERE t.overall_status IN {status_sql}"
        # A trial the registry no longer lists (``sync --check-removed``) is kept, never offered.
        " AND t.removed_from_registry IS NULL"
    )
    if among is not None:
        among_sql, among_params = _ids_clause(dialect, "t.nct_id", list(among), "among")
        sql += f" AND {among_sql}"
        params.update(among_params)
    split = len(_LIGHT_KEYS)
    # Plain tuples sliced by position: one driver call, no mapping per row.
    candidates = Candidates(
        Candidate(dict(zip(_LIGHT_KEYS, row[:split], strict=True)), *row[split:])
        for row in conn.execute(text(sql), params).fetchall()
    )
    if matches is not None:  # counted: the condition's trials (open ones only when open_only)
        if matches:
            candidates.mentioned = True
            candidates.open_mentioned = True if open_only else None
        else:
            candidates.open_mentioned = False
            candidates.mentioned = None if open_only else False
    if with_relevance and condition_alternatives and candidates:
        ranks = find_trials(conn, condition_alternatives)
        for candidate in candidates:
            candidate.relevance = ranks.get(candidate.trial["nct_id"], 0.0)
    return candidates


def _open_matches_near(dialect: str, near: Near, params: dict[str, Any]) -> str:
    """SQLite, condition first, open trials only: each open match's open sites in the box
    straight from ``site_open`` by the full-text rowid (migration 0007), grouped in rowid
    order with no sort; documents are read for the trials with a site in the box only."""
    box = near.box
    params.update(min_lat=box.min_lat, max_lat=box.max_lat)
    ranges = []
    for i, (west, east) in enumerate(box.lon_ranges):
        params[f"west{i}"], params[f"east{i}"] = west, east
        ranges.append(f"o.longitude BETWEEN :west{i} AND :east{i}")
    return (
        "SELECT d.nct_id AS nct_id, b.nearest AS nearest FROM "
        f"(SELECT o.doc_id AS doc_id, min({_haversine_sql(dialect, near, params, 'o')}) AS nearest "
        "FROM trial_search_open f CROSS JOIN site_open o ON o.doc_id = f.rowid "
        "WHERE trial_search_open MATCH :q AND o.latitude BETWEEN :min_lat AND :max_lat "
        f"AND ({' OR '.join(ranges)}) GROUP BY o.doc_id) AS b "
        "CROSS JOIN trial_search_doc d ON d.id = b.doc_id"
    )


def complete_candidates(conn: Connection, candidates: Sequence[Candidate], near: Near | None) -> None:
    """Give light candidates (``find_candidates``) every column and their open sites within
    the radius (every open site without a place), nearest first, in place: the few shown."""
    if not candidates:
        return
    dialect = conn.dialect.name
    where, params = _ids_clause(dialect, "t.nct_id", [c.trial["nct_id"] for c in candidates])
    trials = {
        row[0]: row
        for row in conn.execute(text(f"SELECT {TRIAL_COLUMNS} FROM trial t WHERE {where}"), params)
    }
    where, params = _ids_clause(dialect, "s.nct_id", list(trials))
    where += f" AND {_open_site(params)}"
    distance = "NULL"
    if near is not None:
        where += f" AND {_box_clause(dialect, near.box, params, indexed=False)}"
        distance = distance_sql(dialect, near, params)
    sites: dict[str, list[tuple[float | None, dict[str, Any]]]] = {}
    rows = conn.execute(
        text(f"SELECT s.nct_id, {distance} AS distance, {SITE_COLUMNS} FROM site s WHERE {where}"), params
    )
    for nct_id, km, *site in rows:
        if near is None or km <= near.radius_km:
            sites.setdefault(nct_id, []).append((km, dict(zip(_SITE_KEYS, site, strict=True))))
    for candidate in candidates:
        nct_id = candidate.trial["nct_id"]
        candidate.trial.update(zip(_TRIAL_KEYS, trials[nct_id], strict=True))
        # Nearest first, then as the registry lists them.
        candidate.sites = sorted(
            sites.get(nct_id, []), key=lambda pair: (pair[0] or 0.0, pair[1]["position"])
        )


def _keys(columns: str) -> tuple[str, ...]:
    """Result keys of a column list: "t.nct_id" → nct_id, "s.id AS site_id" → site_id."""
    return tuple(c.split(" AS ")[-1].strip().split(".")[-1] for c in columns.split(","))


_TRIAL_KEYS = _keys(TRIAL_COLUMNS)
_SITE_KEYS = _keys(SITE_COLUMNS)
_LIGHT_KEYS = _keys(LIGHT_TRIAL_COLUMNS)


def condition_presence(
    conn: Connection, alternatives: Sequence[Sequence[str]], known: Candidates | None = None
) -> tuple[bool, bool]:
    """(does any trial mention the condition, does any open one) — each stops at the first
    row; what ``known`` (the candidates found for it) already learned is not asked again:
    a count that found no open match is not repeated either (on PostgreSQL, a LIMIT 1 over
    matches its planner expects plenty of can run as a scan of every document: ~0.7-0.9 s
    at registry scale for 'breast cancer', whose trials there are all closed)."""
    known = known if known is not None else Candidates()
    if known.open_mentioned:
        return True, True
    dialect = conn.dialect.name
    expression = filter_expression(dialect, alternatives)
    if expression is None:
        return False, False
    # Open ones first: most conditions asked about have some, and then both are known.
    if known.open_mentioned is None and count_matching(conn, expression, 0, open_only=True):
        return True, True
    mentioned = known.mentioned if known.mentioned is not None else count_matching(conn, expression, 0) > 0
    return mentioned, False


def _ids_clause(
    dialect: str, column: str, ids: Sequence[str | int], name: str = "ids"
) -> tuple[str, dict[str, Any]]:
    """``column`` among ``ids`` as one bound value ``name``, however many (no per-id placeholder)."""
    if dialect == "sqlite":
        return f"{column} IN (SELECT value FROM json_each(:{name}))", {name: orjson.dumps(ids).decode()}
    return f"{column} = ANY(:{name})", {name: list(ids)}


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
