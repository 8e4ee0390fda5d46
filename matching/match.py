"""Match a referred patient to trials with an open site near her; search trials for advocates.

Hard filters remove a trial: no open site within the radius, a trial status that
is not open, her age outside the trial's bounds, her sex not admitted, or a
healthy volunteer for a trial closed to them. Parsed criteria do not remove a
trial: a failed one ranks it below and marks it likely ineligible. Ranking:
nothing failed first, then fewest unknowns, then the nearest open site.

Patient details are used in memory only: nothing here writes or logs them.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Connection, text

from db.rows import parse_needs_summary
from ingest.places.distance import KM_PER_MILE
from matching.candidates import (
    Candidate,
    Candidates,
    Near,
    complete_candidates,
    condition_presence,
    find_candidates,
    load_criteria,
    without_cyclic_gc,
)
from matching.conditions import check_conditions, expand_conditions
from matching.needs import cannot_be_met, patient_facts_on_record, undecidable
from matching.patient import Coordinates, Patient
from matching.verdicts import evaluate_trial_criteria, patient_facts, trial_statuses

DAYS_PER_YEAR = 365.25
# A flag, not a filter: the patient can be referred but not enrolled yet, or only by invitation.
STATUS_NOTES = {
    "NOT_YET_RECRUITING": "not yet recruiting: the site can take a referral for when it opens",
    "ENROLLING_BY_INVITATION": "enrolling by invitation only: ask the site",
}


def status_words(status: str | None, missing: str = "status not given") -> str:
    """A registry status as words a person reads: ACTIVE_NOT_RECRUITING → "active not recruiting"."""
    return (status or missing).replace("_", " ").lower()


@dataclass
class Place:
    lat: float
    lon: float
    name: str
    country_code: str | None = None
    note: str | None = None
    alternatives: list[dict[str, Any]] = field(default_factory=list)  # as geocode --json gives them

    def to_dict(self) -> dict[str, Any]:
        return {
            "lat": self.lat,
            "lon": self.lon,
            "name": self.name,
            "country_code": self.country_code,
            "note": self.note,
            "alternatives": self.alternatives,
        }


@dataclass
class MatchOutcome:
    matches: list[dict[str, Any]]
    place: Place | None
    radius_km: float | None
    removed: Counter[str]
    considered: int
    hint: str | None = None
    notes: list[str] = field(default_factory=list)  # what reading the patient assumed

    def to_dict(self, *, miles: bool = False) -> dict[str, Any]:
        radius_mi = {"radius_mi": round(self.radius_km / KM_PER_MILE, 2)} if miles and self.radius_km else {}
        return {
            "notes": self.notes,
            "place": self.place.to_dict() if self.place else None,
            "radius_km": self.radius_km,
            **radius_mi,
            "considered": self.considered,
            "removed_by": dict(self.removed),
            "hint": self.hint,
            "matches": self.matches,
            "units": "mi" if miles else "km",
        }


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _site_view(site: dict[str, Any], distance_km: float | None, miles: bool) -> dict[str, Any]:
    view = {
        "facility": site["facility"],
        "city": site["city"],
        "state": site["state"],
        "zip": site["zip"],
        "country": site["country"],
        "status": site["site_status"],
        "latitude": site["latitude"],
        "longitude": site["longitude"],
        "distance_km": round(distance_km, 1) if distance_km is not None else None,
        "contacts": _json(site["contacts"]) or [],
    }
    if miles:
        view["distance_mi"] = round(distance_km / KM_PER_MILE, 1) if distance_km is not None else None
    return view


def hard_filter(trial: dict[str, Any], patient: Patient) -> str | None:
    """The name of the hard filter the trial fails for this patient, or None."""
    if patient.age is not None:
        age_days = patient.age * DAYS_PER_YEAR
        if trial["minimum_age_days"] is not None and age_days < trial["minimum_age_days"] - 1e-6:
            return "age"
        # A whole-year age stands for the whole year: 65 is within "65 Years".
        if trial["maximum_age_days"] is not None and age_days > trial["maximum_age_days"] + 1e-6:
            return "age"
    if patient.sex is not None and trial["sex"] not in (None, "ALL", patient.sex.upper()):
        return "sex"
    if patient.healthy_volunteer and trial["healthy_volunteers"] is False:
        return "healthy_volunteers"
    return None


def _demographics(trial: dict[str, Any], patient: Patient) -> list[dict[str, Any]]:
    """Verdicts of the structured checks, so a result says what was checked and what is unknown."""
    out = []
    bounds = f"{trial['minimum_age'] or 'no minimum'} to {trial['maximum_age'] or 'no maximum'}"
    if patient.age is None:
        out.append({"check": "age", "status": "unknown", "reason": f"age not given — trial takes {bounds}"})
    else:
        out.append(
            {"check": "age", "status": "met", "reason": f"age {patient.age:g} — trial takes {bounds}: met"}
        )
    sex = trial["sex"] or "ALL"
    if patient.sex is None and sex != "ALL":
        out.append({"check": "sex", "status": "unknown", "reason": f"sex not given — trial takes {sex} only"})
    else:
        out.append(
            {
                "check": "sex",
                "status": "met",
                "reason": f"sex {patient.sex or 'not given'} — trial takes {sex}: met",
            }
        )
    return out


@without_cyclic_gc
def match_trials(
    conn: Connection,
    patient: Patient,
    place: Place | None,
    *,
    eligible_only: bool = False,
    miles: bool = False,
    today: date | None = None,
    limit: int | None = None,
    among: Sequence[str] | None = None,
) -> MatchOutcome:
    check_conditions(patient.conditions)
    radius = patient.radius_km if place else None
    near = Near(place.lat, place.lon, patient.radius_km) if place else None
    alternatives = expand_conditions(patient.conditions) if patient.conditions else None
    top_k = bool(limit) and not eligible_only
    candidates = find_candidates(
        conn, condition_alternatives=alternatives, near=near, with_needs=top_k, among=among
    )
    removed: Counter[str] = Counter()
    kept: list[Candidate] = []
    for candidate in candidates:
        if not within(candidate, near):
            removed["distance"] += 1
            continue
        failed = hard_filter(candidate.trial, patient)
        if failed:
            removed[failed] += 1
            continue
        kept.append(candidate)
    if top_k and limit is not None and len(kept) > limit:
        matches = _best_matches(conn, kept, patient, near, miles, today, limit)
    else:
        matches = _evaluated(conn, kept, patient, near, miles, today, removed if eligible_only else None)
    matches.sort(key=rank_key)
    outcome = MatchOutcome(
        matches[:limit], place, radius, removed, len(candidates), notes=list(patient.notes)
    )
    if not matches:
        outcome.hint = no_match_hint(conn, patient, alternatives, outcome, candidates)
    return outcome


def within(candidate: Candidate, near: Near | None) -> bool:
    """Has the trial an open site within the radius (any open site, without a place)?"""
    if near is None:
        return True
    return candidate.nearest_km is not None and candidate.nearest_km <= near.radius_km


# Trials whose criteria are loaded and evaluated together by the exact top-k.
TOP_K_BATCH = 32


def _evaluated(
    conn: Connection,
    kept: list[Candidate],
    patient: Patient,
    near: Near | None,
    miles: bool,
    today: date | None,
    removed: Counter[str] | None,
) -> list[dict[str, Any]]:
    """Result views of the trials in ``kept`` with their criteria verdicts; with ``removed``
    (--eligible-only), those with a failed criterion are dropped and counted there."""
    complete_candidates(conn, kept, near)
    criteria = load_criteria(conn, [c.trial["nct_id"] for c in kept])
    matches = []
    for candidate in kept:
        trial = candidate.trial
        verdicts = evaluate_trial_criteria(criteria.get(trial["nct_id"], []), patient, today=today)
        failed_items = [v for v in verdicts if v["status"] == "not_met"]
        unknown_items = [v for v in verdicts if v["status"] == "unknown"]
        if removed is not None and failed_items:
            removed["criteria"] += 1
            continue
        matches.append(
            result_view(
                trial, candidate.sites, verdicts, failed_items, unknown_items, patient, miles, candidate
            )
        )
    return matches


def rank_key(match: dict[str, Any]) -> tuple[bool, int, float, str]:
    """Nothing failed first, then fewest unknowns, then the nearest open site (as shown, to
    0.1 km); the trial id makes the order total, so a limited match is a prefix of it."""
    distance = match["nearest_site"]["distance_km"]
    nearest = distance if distance is not None else float("inf")
    # Every unknown item counts (administrative ones too), as the needs bounds count them.
    unknowns = sum(1 for v in match["criteria"] if v["status"] == "unknown")
    return bool(match["failed_criteria"]), unknowns, nearest, match["nct_id"]


def nearest_shown(candidate: Candidate) -> float:
    """The nearest open site's distance as a result shows it (to 0.1 km): a rank key."""
    distance = candidate.nearest_km
    return round(distance, 1) if distance is not None else float("inf")


def _best_matches(
    conn: Connection,
    kept: list[Candidate],
    patient: Patient,
    near: Near | None,
    miles: bool,
    today: date | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The ``limit`` best matches of ``kept`` by ``rank_key``, exactly, evaluating as few
    trials as the bound allows, and those only as far as ranking needs.

    A trial's key is at least (False, its items that cannot be met for this patient's
    record, its nearest distance, its id): each such item is either not met (the trial
    fails: its key starts with True) or unknown (``matching.needs``). Trials
    are ranked in order of that bound, a batch at a time; once the ``limit``-th best key
    found is below the next trial's bound, no trial left can enter the top ``limit``.
    Ranking a trial reads only its items the record can decide: the others are unknown.
    The best are then evaluated in full, to be shown.
    """
    facts = patient_facts(patient, today=today)
    have = patient_facts_on_record(facts)
    classes: dict[str, tuple[bool, bool]] = {}  # needs -> (cannot be met, undecidable)
    # Per summary: (its items that cannot be met, those never decided). Trials with the same
    # criteria share a summary (a sponsor's sister trials; the benchmark's clones, heavily).
    summaries: dict[str | None, tuple[int, int]] = {None: (0, 0)}
    counts: dict[str, tuple[int, int]] = {}
    for candidate in kept:
        counted = summaries.get(candidate.needs)
        if counted is None:
            impossible = never_decided = 0
            for item_needs, count in parse_needs_summary(candidate.needs or ""):
                verdict = classes.get(item_needs)
                if verdict is None:
                    verdict = classes[item_needs] = (
                        cannot_be_met(item_needs, have),
                        undecidable(item_needs, have),
                    )
                impossible += count * verdict[0]
                never_decided += count * verdict[1]
            counted = summaries[candidate.needs] = (impossible, never_decided)
        counts[candidate.trial["nct_id"]] = counted
    skip = [n for n, (_, never_decided) in classes.items() if never_decided]

    ordered = sorted(
        ((False, counts[c.trial["nct_id"]][0], nearest_shown(c), c.trial["nct_id"]), c) for c in kept
    )
    best: list[tuple[tuple[bool, int, float, str], Candidate]] = []
    for start in range(0, len(ordered), TOP_K_BATCH):
        if len(best) >= limit and best[limit - 1][0] < ordered[start][0]:
            break
        batch = [candidate for _, candidate in ordered[start : start + TOP_K_BATCH]]
        criteria = load_criteria(conn, [c.trial["nct_id"] for c in batch], skip_needs=skip)
        for candidate in batch:
            nct_id = candidate.trial["nct_id"]
            statuses = trial_statuses(criteria.get(nct_id, []), facts)
            unknown = counts[nct_id][1] + statuses.count("unknown")
            best.append((("not_met" in statuses, unknown, nearest_shown(candidate), nct_id), candidate))
        best = sorted(best, key=lambda pair: pair[0])[:limit]
    matches = _evaluated(conn, [candidate for _, candidate in best], patient, near, miles, today, None)
    if sorted(map(rank_key, matches)) != [key for key, _ in best]:
        # The invariant the shortcut rests on broke: stored needs older than the parser's
        # catalogue. Stay exact (evaluate everything) and say how to repair it. The warning
        # carries nothing of the patient's; the tests turn it into an error.
        warnings.warn(STALE_NEEDS, StaleNeedsWarning, stacklevel=2)
        return _evaluated(conn, kept, patient, near, miles, today, None)
    return matches


class StaleNeedsWarning(RuntimeWarning):
    """Stored criterion needs disagree with this version's evaluation."""


STALE_NEEDS = (
    "stored criteria were parsed by another version of trialsite; ranking fell back to evaluating "
    "every candidate (slower). Run `trialsite criteria reparse` to bring them up to date."
)


def result_view(
    trial: dict[str, Any],
    sites: list[tuple[float | None, dict[str, Any]]],
    verdicts: list[dict[str, Any]],
    failed: list[dict[str, Any]],
    unknown: list[dict[str, Any]],
    patient: Patient,
    miles: bool,
    candidate: Candidate,
) -> dict[str, Any]:
    site_views = [_site_view(site, distance, miles) for distance, site in sites]
    nearest = site_views[0]
    status = trial["overall_status"]
    why = []
    if patient.conditions:
        named = patient.conditions
        why.append(
            f"condition matches {named[0]}"
            if len(named) == 1
            else f"condition matches one of {', '.join(named)}"
        )
    if nearest["distance_km"] is not None:
        away = f"{nearest['distance_mi']:g} mi" if miles else f"{nearest['distance_km']:g} km"
        why.append(f"open site {away} away")
    why.append(f"trial is {status.lower().replace('_', ' ')}")
    if not nearest["contacts"]:
        nearest["contacts"] = _json(trial["central_contacts"]) or []
    return {
        "nct_id": trial["nct_id"],
        "title": trial["brief_title"] or trial["official_title"],
        "official_title": trial["official_title"],
        "overall_status": status,
        "status_note": STATUS_NOTES.get(status),
        "phases": trial["phases"].split("|") if trial["phases"] else [],
        "lead_sponsor": trial["lead_sponsor"],
        "likely_ineligible": bool(failed),
        "why": "; ".join(why),
        "nearest_site": nearest,
        "sites": site_views,
        "checks": _demographics(trial, patient),
        "criteria": verdicts,
        "failed_criteria": failed,
        "unknown_criteria": [v for v in unknown if v.get("category", "clinical") == "clinical"],
        "administrative_criteria": [v for v in verdicts if v.get("category") == "administrative"],
        "relevance": round(candidate.relevance, 3),
    }


EMPTY_STORE_HINT = (
    "the store holds no trials: load some with `trialsite ingest …` (or `make run` for the sample)"
)


def store_is_empty(conn: Connection) -> bool:
    return conn.execute(text("SELECT 1 FROM trial LIMIT 1")).first() is None


def no_match_hint(
    conn: Connection,
    patient: Patient,
    alternatives: list[list[str]] | None,
    outcome: MatchOutcome,
    candidates: Candidates | None = None,
) -> str:
    """Say which filter removed the most trials and what to widen (``candidates``: those
    found, with what their query learned of the condition)."""
    if store_is_empty(conn):
        return EMPTY_STORE_HINT
    if alternatives is not None and not outcome.considered:
        conditions = ", ".join(patient.conditions)
        mentioned, open_ones = condition_presence(conn, alternatives, candidates)
        if not mentioned:
            return f"no trial in the store mentions {conditions}: try a broader or other name"
        if not open_ones:
            return (
                f"trials mention {conditions} but none is open: "
                "load newer records (trialsite ingest ctgov) or search closed trials"
            )
        return f"open trials mention {conditions} but none has an open site within {patient.radius_km:g} km: widen the radius"
    if not outcome.removed:
        return "no open trial matches: widen the radius or the condition"
    worst, count = outcome.removed.most_common(1)[0]
    return filter_hint(worst, count, outcome.considered, patient.radius_km)


def filter_hint(worst: str, count: int, considered: int, radius_km: float | None) -> str:
    """The filter that removed the most trials, in words, and what to widen."""
    advice = {
        "distance": f"widen the radius (now {radius_km or 0:g} km)",
        "age": "these trials take other ages",
        "sex": "these trials take the other sex only",
        "healthy_volunteers": "these trials do not take healthy volunteers",
        "criteria": "drop --eligible-only to see trials with a failed criterion",
        "phase": "ask for other phases, or leave the phase out",
    }.get(worst, "widen the search")
    name = worst.replace("_", " ")
    return f"the {name} filter removed {count} of {considered} candidate trials: {advice}"


def place_from_patient(patient: Patient, resolve: Any) -> Place | None:
    """The patient's location as a point: coordinates as given, a place name via ``resolve``."""
    if patient.location is None:
        return None
    if isinstance(patient.location, Coordinates):
        return Place(
            patient.location.lat, patient.location.lon, f"{patient.location.lat},{patient.location.lon}"
        )
    return place_from_resolution(resolve(patient.location))


def place_from_resolution(resolution: Any) -> Place:
    """A gazetteer resolution as the answer's place; its alternatives in ``geocode --json``'s
    shape (one shape everywhere)."""
    from dataclasses import asdict

    return Place(
        resolution.lat,
        resolution.lon,
        resolution.name,
        resolution.country_code,
        resolution.note,
        [asdict(a) for a in resolution.alternatives],
    )
