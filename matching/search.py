"""Search trials by condition and place, for patient advocates.

Same candidate query and the same result shape as matching a patient
(``matches``: trials with their nearest open site and distance), but the
filters are the advocate's: statuses, phases, an age and a sex to admit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Connection

from db.search import OPEN_TRIAL_STATUSES
from ingest.places.distance import KM_PER_MILE
from matching.candidates import (
    Candidate,
    Candidates,
    Near,
    complete_candidates,
    condition_presence,
    find_candidates,
    without_cyclic_gc,
)
from matching.conditions import check_conditions, expand_conditions
from matching.match import (
    EMPTY_STORE_HINT,
    MatchOutcome,
    Place,
    filter_hint,
    hard_filter,
    result_view,
    status_words,
    store_is_empty,
    within,
)
from matching.patient import Patient


@dataclass
class SearchQuery:
    condition: str
    place: Place | None = None
    radius_km: float = 100.0
    statuses: tuple[str, ...] = OPEN_TRIAL_STATUSES
    phases: tuple[str, ...] = ()
    age: float | None = None
    sex: str | None = None
    limit: int | None = None
    miles: bool = False
    notes: list[str] = field(default_factory=list)
    among: tuple[str, ...] | None = None  # only these trials (a watch, after a sync)


def _order(candidate: Candidate) -> tuple[float, float, str]:
    """Nearest open site first (as shown, to 0.1 km), then relevance (the only key without a
    place), then the trial id."""
    distance = candidate.nearest_km
    nearest = round(distance, 1) if distance is not None else 0.0
    return nearest, -round(candidate.relevance, 3), candidate.trial["nct_id"]


@without_cyclic_gc
def search_trials(conn: Connection, query: SearchQuery) -> MatchOutcome:
    check_conditions([query.condition], "condition")
    alternatives = expand_conditions([query.condition])
    near = Near(query.place.lat, query.place.lon, query.radius_km) if query.place else None
    candidates = find_candidates(
        conn,
        condition_alternatives=alternatives,
        near=near,
        statuses=query.statuses,
        with_relevance=query.place is None,
        among=query.among,
    )
    # The age/sex an advocate asks about are checked exactly like a patient's.
    person = Patient(age=query.age, sex=query.sex, radius_km=query.radius_km, conditions=[query.condition])
    removed: Counter[str] = Counter()
    kept = []
    wanted_phases = {p.upper() for p in query.phases}
    for candidate in candidates:
        trial = candidate.trial
        if wanted_phases and not wanted_phases & set((trial["phases"] or "").split("|")):
            removed["phase"] += 1
            continue
        if not within(candidate, near):
            removed["distance"] += 1
            continue
        failed = hard_filter(trial, person)
        if failed:
            removed[failed] += 1
            continue
        kept.append(candidate)
    # Ordered before any result is built, so a limited search builds only what it shows.
    kept.sort(key=_order)
    shown = kept[: query.limit]
    complete_candidates(conn, shown, near)
    matches = [
        result_view(candidate.trial, candidate.sites, [], [], [], person, query.miles, candidate)
        for candidate in shown
    ]
    outcome = MatchOutcome(
        matches,
        query.place,
        query.radius_km if query.place else None,
        removed,
        len(candidates),
    )
    if not kept:
        if store_is_empty(conn):
            outcome.hint = EMPTY_STORE_HINT
        elif not candidates:
            outcome.hint = _nothing_found_hint(conn, query, alternatives, candidates)
        else:
            worst, count = removed.most_common(1)[0]
            outcome.hint = filter_hint(worst, count, len(candidates), query.radius_km)
    return outcome


def _nothing_found_hint(
    conn: Connection, query: SearchQuery, alternatives: list[list[str]], candidates: Candidates
) -> str:
    """Why a search found no trial, in words: the condition, the statuses or the distance."""
    mentioned, _ = condition_presence(conn, alternatives, candidates)
    if not mentioned:
        return f"no trial in the store mentions {query.condition}: try a broader or other name"
    names = [status_words(s) for s in query.statuses]
    statuses = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    if not query.place:
        return f"trials mention {query.condition}, but none is {statuses}: widen the statuses"
    radius = f"{query.radius_km / KM_PER_MILE:.4g} mi" if query.miles else f"{query.radius_km:g} km"
    return (
        f"trials mention {query.condition}, but none that is {statuses} has a site within {radius}: "
        "widen the radius or the statuses"
    )
