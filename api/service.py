"""What every interface of the service answers, on one store and one gazetteer.

The JSON API, the FHIR endpoint and the web pages call these, and they call what the
CLI calls (``parse_patient``, ``place_from_patient``, ``match_trials``,
``search_trials``, ``get_trial``): one code path, the same shapes as ``--json``.

Errors a request can cause are :class:`ProblemError` (an RFC 9457 problem: status,
title, a detail naming the field). Patient details live in the request only: nothing
here stores or logs them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from db.engine import open_store
from db.migrate import current_revision, head_revision
from db.queries import get_stats, get_trial, list_changes
from db.search import OPEN_TRIAL_STATUSES
from db.upsert import TRIAL
from ingest.criteria.needs import with_needs_view
from ingest.ctgov.query import OVERALL_STATUSES, PHASES
from ingest.places.distance import haversine_km
from ingest.places.gazetteer.build import default_gazetteer_path
from ingest.places.gazetteer.lookup import Gazetteer
from ingest.places.resolution import GazetteerError, PlaceNotFound, Resolution
from ingest.sync.summary import get_watermark, list_runs
from matching.conditions import ConditionError, check_conditions
from matching.match import MatchOutcome, Place, match_trials, place_from_patient, place_from_resolution
from matching.patient import Patient, PatientError, parse_patient
from matching.referral import MAX_LETTER_CHARS, parse_referral
from matching.search import SearchQuery, search_trials

# The registry's statuses (ingest.ctgov.query's list), the open ones first.
STATUSES = (*OPEN_TRIAL_STATUSES, *sorted(OVERALL_STATUSES - set(OPEN_TRIAL_STATUSES)))


class ProblemError(Exception):
    """A request the service cannot answer as asked: an RFC 9457 problem."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.field = status, title, detail, field
        self.extra = extra or {}


def bad_input(field_name: str, detail: str) -> ProblemError:
    return ProblemError(422, "Invalid input", f"{field_name}: {detail}", field=field_name)


@dataclass
class Service:
    """The store and the gazetteer a running server shares across requests."""

    engine: Engine
    gazetteer_path: Path
    _gazetteer: Gazetteer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, database_url: str | None = None, gazetteer_path: Path | None = None) -> Service:
        engine = open_store(database_url)
        return cls(engine, gazetteer_path or default_gazetteer_path())

    def close(self) -> None:
        if self._gazetteer is not None:
            self._gazetteer.close()
        self.engine.dispose()

    # -- places ---------------------------------------------------------------------------

    def resolve(self, query: str) -> Resolution:
        """One place query through the shared gazetteer (its connection is used by one
        thread at a time)."""
        with self._lock:
            if self._gazetteer is None:
                self._gazetteer = Gazetteer.open(self.gazetteer_path)
            return self._gazetteer.resolve(query)

    def place(self, query: str, field_name: str) -> Place:
        try:
            resolution = self.resolve(query)
        except PlaceNotFound as exc:
            raise ProblemError(
                422,
                "Unknown place",
                f"{field_name}: {exc}",
                field=field_name,
                extra={"suggestions": exc.suggestions},
            ) from None
        except GazetteerError as exc:
            raise bad_input(field_name, str(exc)) from None
        return place_from_resolution(resolution)

    def geocode(self, query: str) -> dict[str, Any]:
        query = query.strip()
        if not query:
            raise bad_input("q", "expected a place, a postal code or 'lat,lon', got an empty string")
        try:
            return self.resolve(query).to_dict()
        except PlaceNotFound as exc:
            raise ProblemError(
                404, "Place not found", f"q: {exc}", field="q", extra={"suggestions": exc.suggestions}
            ) from None
        except GazetteerError as exc:
            raise bad_input("q", str(exc)) from None

    # -- matching -------------------------------------------------------------------------

    def patient(self, data: Any) -> Patient:
        try:
            patient = parse_patient(data, source="patient")
        except PatientError as exc:
            detail = str(exc).removeprefix("patient: ").replace(f"field {exc.field}: ", f"{exc.field}: ", 1)
            raise ProblemError(422, "Invalid patient", detail, field=exc.field) from None
        try:
            check_conditions(patient.conditions)
        except ConditionError as exc:
            raise bad_input(exc.field, exc.detail) from None
        return patient

    def referral(self, text: str) -> dict[str, Any]:
        """A referral letter read into a patient profile for review (``trialsite referral parse
        --json``): the patient, the words each fact came from, what was ignored and why, and
        warnings. Nothing of the letter is kept."""
        if not text.strip():
            raise bad_input("body", "the letter is empty: paste the referral letter's text")
        if len(text) > MAX_LETTER_CHARS:
            raise ProblemError(
                422,
                "Letter too long",
                f"body: a letter of {len(text):,} characters is longer than {MAX_LETTER_CHARS:,}",
                field="body",
            )
        result = parse_referral(text)
        answer = result.as_json()
        try:
            patient = parse_patient(result.patient, source="letter", strict_units=False)
        except PatientError as exc:
            answer["warnings"].append(str(exc))
        else:
            answer["warnings"].extend(patient.notes)
        return answer

    def match(
        self,
        data: Any,
        *,
        limit: int | None = None,
        eligible_only: bool = False,
        miles: bool = False,
        today: date | None = None,
    ) -> MatchOutcome:
        patient = self.patient(data)
        try:
            place = place_from_patient(patient, self.resolve)
        except PlaceNotFound as exc:
            raise ProblemError(
                422,
                "Unknown place",
                f"location: {exc}",
                field="location",
                extra={"suggestions": exc.suggestions},
            ) from None
        except GazetteerError as exc:
            raise bad_input("location", str(exc)) from None
        with self.engine.connect() as conn:
            return match_trials(
                conn, patient, place, eligible_only=eligible_only, miles=miles, today=today, limit=limit
            )

    def search(
        self,
        condition: str,
        *,
        near: str | None = None,
        radius_km: float = 100.0,
        statuses: list[str] | None = None,
        phases: list[str] | None = None,
        age: float | None = None,
        sex: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        miles: bool = False,
    ) -> MatchOutcome:
        condition = condition.strip()
        if not condition:
            raise bad_input("condition", "expected a condition, e.g. 'lupus nephritis', got an empty string")
        try:
            check_conditions([condition], "condition")
        except ConditionError as exc:
            raise bad_input(exc.field, exc.detail) from None
        if any(not s.strip() for s in [*(statuses or []), *(phases or [])]):
            raise bad_input(
                "status" if any(not s.strip() for s in statuses or []) else "phase",
                "expected a value, got an empty one",
            )
        statuses = [s.strip().upper() for s in statuses or []]
        for value in statuses:
            if value not in STATUSES:
                raise bad_input("status", f"expected one of {', '.join(STATUSES)}, got {value!r}")
        phases = [p.strip().upper() for p in phases or []]
        for value in phases:
            if value not in PHASES:
                raise bad_input("phase", f"expected one of {', '.join(PHASES)}, got {value!r}")
        place = self.place(near, "near") if near and near.strip() else None
        query = SearchQuery(
            condition,
            place,
            radius_km,
            tuple(statuses) or OPEN_TRIAL_STATUSES,
            tuple(phases),
            age,
            sex,
            None if limit is None else limit + offset,
            miles,
        )
        with self.engine.connect() as conn:
            outcome = search_trials(conn, query)
        if offset:
            outcome.matches = outcome.matches[offset:]
        return outcome

    # -- trials and the store -------------------------------------------------------------

    def trial(self, trial_id: str, *, near: str | None = None) -> dict[str, Any]:
        trial = get_trial(self.engine, trial_id)
        if trial is None:
            raise ProblemError(
                404, "Trial not found", f"trial_id: no trial {trial_id!r} in the store", field="trial_id"
            )
        if near and near.strip():
            place = self.place(near, "near")
            for site in trial["sites"]:
                lat, lon = site.get("latitude"), site.get("longitude")
                site["distance_km"] = (
                    round(haversine_km(place.lat, place.lon, lat, lon), 1)
                    if lat is not None and lon is not None
                    else None
                )
            trial["sites"].sort(key=lambda s: (s["distance_km"] is None, s["distance_km"] or 0.0))
            trial["near"] = place.to_dict()
        with_needs_view(trial["criteria"])
        return trial

    def changes(
        self, *, since: date | None = None, trial_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return list_changes(self.engine, trial_id.strip() if trial_id else None, limit, since=since)

    def stats(self) -> dict[str, Any]:
        return get_stats(self.engine)

    def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {"store": "ok", "schema_revision": None, "schema_head": None}
        ok = True
        try:
            report["schema_revision"] = current_revision(self.engine)
            report["schema_head"] = head_revision(self.engine)
            ok = report["schema_revision"] == report["schema_head"]
            with self.engine.connect() as conn:
                report["trials"] = conn.execute(select(func.count()).select_from(TRIAL)).scalar_one()
            runs = list_runs(self.engine, 1)
            report["last_sync"] = (
                {
                    k: runs[0][k]
                    for k in ("status", "mode", "started_at", "finished_at", "data_timestamp", "error")
                }
                if runs
                else None
            )
            report["sync_watermark"] = get_watermark(self.engine)
        except SQLAlchemyError as exc:
            report["store"] = f"unreachable: {type(exc).__name__}"
            ok = False
        report["gazetteer"] = "ready" if self.gazetteer_path.exists() else f"missing at {self.gazetteer_path}"
        ok = ok and self.gazetteer_path.exists()
        report["status"] = "ok" if ok else "unavailable"
        return report


@contextmanager
def opened(database_url: str | None = None) -> Iterator[Service]:
    service = Service.open(database_url)
    try:
        yield service
    finally:
        service.close()
