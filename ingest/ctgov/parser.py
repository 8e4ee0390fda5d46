"""Parse one ClinicalTrials.gov API v2 study object into a :class:`NormalizedTrial`.

The shape is the ``Study`` schema of the official OpenAPI spec
(``tests/fixtures/ctgov/openapi/ctg-oas-v2.0.5.yaml``): ``protocolSection`` with
its modules, ``derivedSection`` (MeSH terms, ``miscInfoModule.versionHolder``),
``hasResults``. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from ingest.places.countries import country_code
from ingest.record import (
    SOURCE_API,
    Arm,
    Condition,
    Contact,
    Intervention,
    NormalizedTrial,
    RecordError,
    SecondaryId,
    Site,
    Sponsor,
)
from ingest.values import is_nct_id, parse_age, parse_partial_date

T = TypeVar("T")
# The registry's enums are upper-case identifiers; new values may appear, so the
# shape is checked rather than a closed list.
_ENUM_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,39}$")
# The spec's Status enum (ctg-oas-v2.0.5.yaml): matching filters on it, so a value
# outside it refuses the record rather than storing a trial no search can place.
STATUSES = frozenset(
    {"ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING",
     "RECRUITING", "SUSPENDED", "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE",
     "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING", "WITHHELD", "UNKNOWN"}
)  # fmt: skip
Obj = Mapping[str, Any]


class _Reader:
    """Typed access to one study's JSON, raising :class:`RecordError` naming the field."""

    def __init__(self, nct_id: str | None) -> None:
        self.nct_id = nct_id

    def fail(self, field: str, message: str) -> RecordError:
        return RecordError(message, nct_id=self.nct_id, field=field)

    def obj(self, parent: Obj, key: str, path: str) -> Obj:
        value = parent.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(f"{path}.{key}", f"expected an object, got {type(value).__name__}")
        return value

    def typed(self, parent: Obj, key: str, path: str, kind: type[T]) -> T | None:
        value = parent.get(key)
        if value is None:
            return None
        # bool is an int in Python; the registry never sends a bool for a number.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(f"{path}.{key}", f"expected {kind.__name__}, got {value!r}"[:200])
        return value

    def text(self, parent: Obj, key: str, path: str) -> str | None:
        value = parent.get(key)
        if type(value) is str:  # the common case first: this runs ~150 times per study
            return value.strip() or None
        if value is None:
            return None
        raise self.fail(f"{path}.{key}", f"expected str, got {value!r}"[:200])

    def enum(self, parent: Obj, key: str, path: str) -> str | None:
        """A registry enum value (``RECRUITING``, ``PHASE2``): upper-case words joined by ``_``."""
        value = parent.get(key)
        if value is None:
            return None
        if type(value) is not str or not _ENUM_RE.match(value):
            raise self.fail(f"{path}.{key}", f"not a registry enum value: {value!r}"[:200])
        return value

    def enums(self, parent: Obj, key: str, path: str) -> list[str]:
        values = self.texts(parent, key, path)
        for i, value in enumerate(values):
            if not _ENUM_RE.match(value):
                raise self.fail(f"{path}.{key}[{i}]", f"not a registry enum value: {value!r}"[:200])
        return values

    def items(self, parent: Obj, key: str, path: str) -> list[Any]:
        value = parent.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{path}.{key}", f"expected a list, got {type(value).__name__}")
        return value

    def objs(self, parent: Obj, key: str, path: str) -> list[Obj]:
        values = self.items(parent, key, path)
        for i, value in enumerate(values):
            if not isinstance(value, Mapping):
                raise self.fail(f"{path}.{key}[{i}]", "expected an object")
        return values

    def texts(self, parent: Obj, key: str, path: str) -> list[str]:
        values = self.items(parent, key, path)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise self.fail(f"{path}.{key}[{i}]", f"expected a string, got {value!r}"[:200])
        return [v.strip() for v in values if v.strip()]

    def date(self, parent: Obj, key: str, path: str) -> tuple[str | None, str | None]:
        """A ``*DateStruct`` (``{"date": ..., "type": ...}``) or a bare date string."""
        value = parent.get(key)
        if value is None:
            return None, None
        if isinstance(value, str):
            return parse_partial_date(value, nct_id=self.nct_id, field=f"{path}.{key}"), None
        struct = self.obj(parent, key, path)
        date = parse_partial_date(
            self.text(struct, "date", f"{path}.{key}"),
            nct_id=self.nct_id,
            field=f"{path}.{key}.date",
        )
        return date, self.enum(struct, "type", f"{path}.{key}")


def get_nct_id(study: Any) -> str | None:
    """The study's NCT id if it has a readable one (for quarantine notes), else None."""
    try:
        value = study["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def parse_study(study: Any) -> NormalizedTrial:
    """API v2 study object → normalized trial. Raises :class:`RecordError` on bad input."""
    if not isinstance(study, Mapping):
        raise RecordError(f"a study must be a JSON object, got {type(study).__name__}")
    nct_id = get_nct_id(study)
    r = _Reader(nct_id)
    protocol = study.get("protocolSection")
    if not isinstance(protocol, Mapping):
        raise r.fail("protocolSection", "missing protocolSection")
    ps = "protocolSection"
    ident = r.obj(protocol, "identificationModule", ps)
    if not is_nct_id(nct_id):
        raise r.fail(f"{ps}.identificationModule.nctId", f"missing or malformed NCT id {nct_id!r}")
    assert nct_id is not None
    trial = NormalizedTrial(nct_id=nct_id, source=SOURCE_API)
    _identification(r, trial, ident, f"{ps}.identificationModule")
    _status(r, trial, r.obj(protocol, "statusModule", ps), f"{ps}.statusModule")
    _sponsors(
        r,
        trial,
        r.obj(protocol, "sponsorCollaboratorsModule", ps),
        f"{ps}.sponsorCollaboratorsModule",
    )
    desc = r.obj(protocol, "descriptionModule", ps)
    trial.brief_summary = r.text(desc, "briefSummary", f"{ps}.descriptionModule")
    trial.detailed_description = r.text(desc, "detailedDescription", f"{ps}.descriptionModule")
    _conditions(r, trial, r.obj(protocol, "conditionsModule", ps), study, f"{ps}.conditionsModule")
    _design(r, trial, r.obj(protocol, "designModule", ps), f"{ps}.designModule")
    _arms(r, trial, r.obj(protocol, "armsInterventionsModule", ps), f"{ps}.armsInterventionsModule")
    _eligibility(r, trial, r.obj(protocol, "eligibilityModule", ps), f"{ps}.eligibilityModule")
    _locations(r, trial, r.obj(protocol, "contactsLocationsModule", ps), f"{ps}.contactsLocationsModule")
    misc = r.obj(r.obj(study, "derivedSection", ""), "miscInfoModule", "derivedSection")
    trial.version_date = parse_partial_date(
        r.text(misc, "versionHolder", "derivedSection.miscInfoModule"),
        nct_id=nct_id,
        field="derivedSection.miscInfoModule.versionHolder",
    )
    trial.has_results = bool(r.typed(study, "hasResults", "", bool))
    return trial


def _identification(r: _Reader, t: NormalizedTrial, m: Obj, path: str) -> None:
    t.brief_title = r.text(m, "briefTitle", path)
    t.official_title = r.text(m, "officialTitle", path)
    t.acronym = r.text(m, "acronym", path)
    t.org_study_id = r.text(r.obj(m, "orgStudyIdInfo", path), "id", f"{path}.orgStudyIdInfo")
    for i, info in enumerate(r.objs(m, "secondaryIdInfos", path)):
        p = f"{path}.secondaryIdInfos[{i}]"
        sid = r.text(info, "id", p)
        if sid:
            t.secondary_ids.append(SecondaryId(sid, r.enum(info, "type", p), r.text(info, "domain", p)))


def _status(r: _Reader, t: NormalizedTrial, m: Obj, path: str) -> None:
    t.overall_status = r.enum(m, "overallStatus", path)
    t.last_known_status = r.enum(m, "lastKnownStatus", path)
    for key, value in (("overallStatus", t.overall_status), ("lastKnownStatus", t.last_known_status)):
        if value is not None and value not in STATUSES:
            raise r.fail(f"{path}.{key}", f"not a registry status: {value!r}")
    t.why_stopped = r.text(m, "whyStopped", path)
    t.status_verified_date = parse_partial_date(
        r.text(m, "statusVerifiedDate", path), nct_id=r.nct_id, field=f"{path}.statusVerifiedDate"
    )
    t.start_date, t.start_date_type = r.date(m, "startDateStruct", path)
    t.primary_completion_date, t.primary_completion_date_type = r.date(m, "primaryCompletionDateStruct", path)
    t.completion_date, t.completion_date_type = r.date(m, "completionDateStruct", path)
    t.first_post_date, _ = r.date(m, "studyFirstPostDateStruct", path)
    t.last_update_post_date, t.last_update_post_date_type = r.date(m, "lastUpdatePostDateStruct", path)


def _sponsor(r: _Reader, m: Obj, path: str) -> Sponsor | None:
    name = r.text(m, "name", path)
    return Sponsor(name, r.enum(m, "class", path)) if name else None


def _sponsors(r: _Reader, t: NormalizedTrial, m: Obj, path: str) -> None:
    t.lead_sponsor = _sponsor(r, r.obj(m, "leadSponsor", path), f"{path}.leadSponsor")
    for i, c in enumerate(r.objs(m, "collaborators", path)):
        sponsor = _sponsor(r, c, f"{path}.collaborators[{i}]")
        if sponsor:
            t.collaborators.append(sponsor)


def _conditions(r: _Reader, t: NormalizedTrial, m: Obj, study: Obj, path: str) -> None:
    t.conditions.extend(Condition(term, "listed") for term in r.texts(m, "conditions", path))
    t.keywords = r.texts(m, "keywords", path)
    t.conditions.extend(Condition(term, "keyword") for term in t.keywords)
    browse = r.obj(r.obj(study, "derivedSection", ""), "conditionBrowseModule", "derivedSection")
    bpath = "derivedSection.conditionBrowseModule"
    for key, kind in (("meshes", "mesh"), ("ancestors", "mesh_ancestor")):
        for i, mesh in enumerate(r.objs(browse, key, bpath)):
            term = r.text(mesh, "term", f"{bpath}.{key}[{i}]")
            if term:
                t.conditions.append(Condition(term, kind, r.text(mesh, "id", f"{bpath}.{key}[{i}]")))


def _design(r: _Reader, t: NormalizedTrial, m: Obj, path: str) -> None:
    t.study_type = r.enum(m, "studyType", path)
    t.phases = r.enums(m, "phases", path)
    enrollment = r.obj(m, "enrollmentInfo", path)
    t.enrollment = r.typed(enrollment, "count", f"{path}.enrollmentInfo", int)
    if t.enrollment is not None and t.enrollment < 0:
        raise r.fail(f"{path}.enrollmentInfo.count", f"negative enrollment {t.enrollment}")
    t.enrollment_type = r.enum(enrollment, "type", f"{path}.enrollmentInfo")


def _arms(r: _Reader, t: NormalizedTrial, m: Obj, path: str) -> None:
    for i, arm in enumerate(r.objs(m, "armGroups", path)):
        p = f"{path}.armGroups[{i}]"
        t.arms.append(
            Arm(
                label=r.text(arm, "label", p) or "",
                type=r.enum(arm, "type", p),
                description=r.text(arm, "description", p),
                intervention_names=r.texts(arm, "interventionNames", p),
            )
        )
    for i, iv in enumerate(r.objs(m, "interventions", path)):
        p = f"{path}.interventions[{i}]"
        t.interventions.append(
            Intervention(
                name=r.text(iv, "name", p) or "",
                type=r.enum(iv, "type", p),
                description=r.text(iv, "description", p),
                arm_group_labels=r.texts(iv, "armGroupLabels", p),
                other_names=r.texts(iv, "otherNames", p),
            )
        )


def _eligibility(r: _Reader, t: NormalizedTrial, m: Obj, path: str) -> None:
    # The criteria text is kept verbatim (markdown, escapes and all): nothing a source said is lost.
    raw = r.typed(m, "eligibilityCriteria", path, str)
    t.eligibility_criteria = raw if raw and raw.strip() else None
    t.healthy_volunteers = r.typed(m, "healthyVolunteers", path, bool)
    t.sex = r.enum(m, "sex", path)
    t.std_ages = r.enums(m, "stdAges", path)
    t.minimum_age, t.minimum_age_days = parse_age(
        r.text(m, "minimumAge", path), nct_id=r.nct_id, field=f"{path}.minimumAge"
    )
    t.maximum_age, t.maximum_age_days = parse_age(
        r.text(m, "maximumAge", path), nct_id=r.nct_id, field=f"{path}.maximumAge"
    )
    if (
        t.minimum_age_days is not None
        and t.maximum_age_days is not None
        and t.minimum_age_days > t.maximum_age_days
    ):
        raise r.fail(f"{path}.minimumAge", f"minimum age {t.minimum_age} above maximum {t.maximum_age}")


def _contact(r: _Reader, c: Obj, path: str) -> Contact:
    return Contact(
        name=r.text(c, "name", path),
        role=r.enum(c, "role", path),
        phone=r.text(c, "phone", path),
        phone_ext=r.text(c, "phoneExt", path),
        email=r.text(c, "email", path),
    )


def _coordinate(r: _Reader, geo: Obj, key: str, path: str, limit: float) -> float | None:
    value = geo.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -limit <= value <= limit:
        raise r.fail(f"{path}.{key}", f"bad coordinate {value!r}")
    return float(value)


def _locations(r: _Reader, t: NormalizedTrial, m: Obj, path: str) -> None:
    t.central_contacts = [
        _contact(r, c, f"{path}.centralContacts[{i}]")
        for i, c in enumerate(r.objs(m, "centralContacts", path))
    ]
    for i, loc in enumerate(r.objs(m, "locations", path)):
        p = f"{path}.locations[{i}]"
        geo = r.obj(loc, "geoPoint", p)
        lat = _coordinate(r, geo, "lat", f"{p}.geoPoint", 90)
        lon = _coordinate(r, geo, "lon", f"{p}.geoPoint", 180)
        has_point = lat is not None and lon is not None
        country = r.text(loc, "country", p)
        t.sites.append(
            Site(
                facility=r.text(loc, "facility", p),
                city=r.text(loc, "city", p),
                state=r.text(loc, "state", p),
                zip=r.text(loc, "zip", p),
                country=country,
                country_code=country_code(country) if country else None,
                status=r.enum(loc, "status", p),
                latitude=lat if has_point else None,
                longitude=lon if has_point else None,
                geo_source="registry" if has_point else None,
                geo_precision="registry" if has_point else None,
                contacts=[
                    _contact(r, c, f"{p}.contacts[{j}]") for j, c in enumerate(r.objs(loc, "contacts", p))
                ],
            )
        )
