"""FHIR R4 for trial-matching front ends: a patient Bundle in, ResearchStudy resources out.

The contract is the mCODE clinical-trial-matching-service one: ``POST /getClinicalTrial``
with ``{"patientData": <Bundle>}`` answers a ``searchset`` Bundle of ``ResearchStudy``,
best first, each with ``search.score``.

Read from the Bundle (everything else is ignored, and nothing is kept):

- ``Patient``: ``birthDate`` (age), ``gender``, ``address`` (postal code, city, state,
  country) as the place;
- ``Condition``: ``code.text``, each coding's ``display``, a MeSH descriptor id (read through
  the clinical vocabulary), or its SNOMED CT / ICD-10 code through
  ``matching/data/condition_codes.json``; a ``refuted`` one is an absent condition
  (``absent_conditions``), an entered-in-error one is skipped; a pregnancy condition sets
  ``pregnant``;
- ``FamilyMemberHistory``: each ``condition[].code`` as ``family_history``, never hers;
- ``Observation`` with ``valueQuantity`` (or ``valueInteger``): a LOINC code the criteria
  catalogue cites, or the code's text, as a measurement; pregnancy status (LOINC 82810-3);
- ``MedicationStatement`` as treatments with their dates, ``Procedure`` as dated events.
"""

from __future__ import annotations

import json
import re
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from api.fhir_bundle import BundleShapeError, check_bundle
from ingest.criteria.catalogue import load_catalogue
from ingest.vocabulary.concepts import load_vocabulary
from matching.tabular import registry_url

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm")
PREGNANCY_STATUS = "82810-3"  # LOINC: Pregnancy status
PREGNANT = {"77386006"}  # SNOMED CT: Pregnancy (finding) / Patient currently pregnant
NOT_PREGNANT = {"60001007"}  # SNOMED CT: Not pregnant
PHASE_SYSTEM = "http://terminology.hl7.org/CodeSystem/research-study-phase"
PHASES = {
    "EARLY_PHASE1": "early-phase-1",
    "PHASE1": "phase-1",
    "PHASE2": "phase-2",
    "PHASE3": "phase-3",
    "PHASE4": "phase-4",
    "NA": "n-a",
}
# The registry's overall status as FHIR R4 ResearchStudy.status (research-study-status).
STATUSES = {
    "RECRUITING": "active",
    "ENROLLING_BY_INVITATION": "active",
    "NOT_YET_RECRUITING": "approved",
    "ACTIVE_NOT_RECRUITING": "closed-to-accrual",
    "SUSPENDED": "temporarily-closed-to-accrual",
    "TEMPORARILY_NOT_AVAILABLE": "temporarily-closed-to-accrual",
    "TERMINATED": "administratively-completed",
    "COMPLETED": "completed",
    "WITHDRAWN": "withdrawn",
    "NO_LONGER_AVAILABLE": "closed-to-accrual",
    "AVAILABLE": "active",
    "APPROVED_FOR_MARKETING": "completed",
    "WITHHELD": "in-review",
    "UNKNOWN": "in-review",
}
DISTANCE_EXTENSION = "urn:trialsite:fhir:StructureDefinition:distance-from-patient"
NCT_SYSTEM = "http://clinicaltrials.gov"
# Code systems naming MeSH descriptors (HL7's URI and OID for MeSH).
MESH = frozenset(
    {"http://id.nlm.nih.gov/mesh", "https://id.nlm.nih.gov/mesh", "urn:oid:2.16.840.1.113883.6.177"}
)
# A trial page without an NCT id is stored under an id derived from its content.
PAGE_SYSTEM = "urn:trialsite:trial-page-id"


class BundleError(ValueError):
    """A Bundle the service cannot match on; the message says what is missing or wrong."""


class NoCondition(BundleError):
    """A Bundle whose Patient has no Condition the service can read."""


@cache
def condition_codes() -> dict[str, dict[str, str]]:
    raw = json.loads(resources.files("matching").joinpath("data/condition_codes.json").read_text())
    return {"snomed": raw["snomed"], "icd10": raw["icd10"]}


@cache
def loinc_variables() -> dict[str, str]:
    """LOINC code → catalogue variable, from the codes each variable's source cites."""
    found: dict[str, str] = {}
    for variable in load_catalogue().variables.values():
        if "LOINC" in variable.source:
            for code in re.findall(r"\b(\d{3,6}-\d)\b", variable.source.split("LOINC", 1)[1]):
                found.setdefault(code, variable.name)
    return found


def _codings(concept: Any) -> list[dict[str, Any]]:
    return [c for c in (concept or {}).get("coding") or [] if isinstance(c, dict)]


def _code_name(concept: Any) -> str | None:
    """A condition's name: its text, a coding's display, or a known SNOMED CT / ICD-10 code."""
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return str(concept["text"]).strip()
    codes = condition_codes()
    for coding in _codings(concept):
        if isinstance(coding.get("display"), str) and coding["display"].strip():
            return str(coding["display"]).strip()
    for coding in _codings(concept):
        if coding.get("system") in MESH and isinstance(coding.get("code"), str):
            found = load_vocabulary().get(coding["code"].strip())  # a MeSH descriptor id: D008181
            if found is not None:
                return found.display
    for coding in _codings(concept):
        code, system = str(coding.get("code") or "").strip(), coding.get("system")
        if system == SNOMED and code in codes["snomed"]:
            return codes["snomed"][code]
        if system in ICD10:
            key = code.upper()
            while key:
                if key in codes["icd10"]:
                    return codes["icd10"][key]
                key = key[:-1].rstrip(".")
    return None


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10]) if len(value) >= 10 else date(int(value[:4]), 1, 1)
    except ValueError:
        return None


def _resources(bundle: Any) -> list[dict[str, Any]]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleError("patientData: expected a FHIR Bundle (resourceType 'Bundle')")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise BundleError("patientData.entry: expected a list of entries, got none")
    try:  # every element read below has the type FHIR gives it (api.fhir_bundle)
        check_bundle(bundle)
    except BundleShapeError as exc:
        raise BundleError(str(exc)) from None
    found = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            found.append(resource)
    return found


def _place(patient: dict[str, Any]) -> str | None:
    for address in patient.get("address") or []:
        if not isinstance(address, dict) or address.get("use") == "old":
            continue
        parts = [address.get("city"), address.get("state"), address.get("country")]
        named = ", ".join(str(p).strip() for p in parts if isinstance(p, str) and p.strip())
        postal = str(address.get("postalCode") or "").strip()
        if named:
            return named
        if postal:
            return postal
    return None


def _measurement(observation: dict[str, Any]) -> dict[str, Any] | None:
    value: Any = None
    unit = None
    quantity = observation.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
        value = quantity["value"]
        unit = quantity.get("unit") or quantity.get("code")
    elif isinstance(observation.get("valueInteger"), int) and not isinstance(
        observation["valueInteger"], bool
    ):
        value = observation["valueInteger"]
    if value is None or isinstance(value, bool):
        return None
    code = observation.get("code") or {}
    catalogue = load_catalogue()
    name = None
    for coding in _codings(code):
        if coding.get("system") == LOINC and (variable := loinc_variables().get(str(coding.get("code")))):
            name = catalogue.variables[variable].display
            break
    if name is None:
        for written in [code.get("text"), *(c.get("display") for c in _codings(code))]:
            if isinstance(written, str) and written.strip():
                name = written.strip()
                break
    if name is None:
        return None
    measurement: dict[str, Any] = {
        "name": name,
        "value": value,
        "unit": _readable_unit(unit) if isinstance(unit, str) else None,
    }
    when = _date(observation.get("effectiveDateTime"))
    if when:
        measurement["date"] = when.isoformat()
    return measurement


def _readable_unit(unit: str) -> str:
    """A UCUM unit as written in FHIR with its annotations unbraced: EHRs send eGFR in
    ``mL/min/{1.73_m2}`` (US Core), which the catalogue reads as mL/min/1.73m2."""
    return re.sub(r"\{([^{}]*)\}", lambda m: m.group(1).replace("_", ""), unit)


def _pregnancy(observation: dict[str, Any]) -> bool | None:
    if not any(c.get("code") == PREGNANCY_STATUS for c in _codings(observation.get("code"))):
        return None
    answer = {str(c.get("code")) for c in _codings(observation.get("valueCodeableConcept"))}
    if answer & PREGNANT:
        return True
    if answer & NOT_PREGNANT:
        return False
    return None


def bundle_to_patient(
    bundle: Any, *, radius_km: float | None = None, require_condition: bool = True
) -> dict[str, Any]:
    """The patient JSON (``trialsite match --schema``) a Bundle describes; raises
    :class:`BundleError` for a Bundle with nothing to match on (with ``require_condition``
    false, a Patient without a readable Condition is not refused: the SMART launch fills a
    form with what the record has)."""
    resources_ = _resources(bundle)
    patients = [r for r in resources_ if r["resourceType"] == "Patient"]
    if not patients:
        raise BundleError("patientData: the Bundle has no Patient resource")
    person = patients[0]
    data: dict[str, Any] = {"conditions": [], "measurements": [], "treatments": [], "events": []}
    birth = _date(person.get("birthDate"))
    if birth:
        data["birth_date"] = birth.isoformat()
    if person.get("gender") in {"female", "male"}:
        data["sex"] = person["gender"]
    place = _place(person)
    if place:
        data["location"] = place
    if radius_km is not None:
        data["radius_km"] = radius_km
    for resource in resources_:
        kind = resource["resourceType"]
        if kind == "Condition":
            status = {c.get("code") for c in _codings(resource.get("verificationStatus"))}
            if "entered-in-error" in status:
                continue
            refuted = "refuted" in status  # "not diabetic": a condition she is known not to have
            if {c.get("code") for c in _codings(resource.get("code"))} & PREGNANT:
                data["pregnant"] = not refuted
                continue
            name = _code_name(resource.get("code"))
            field = "absent_conditions" if refuted else "conditions"
            if name and name not in data.setdefault(field, []):
                data[field].append(name)
        elif kind == "FamilyMemberHistory":
            for item in resource.get("condition") or []:
                name = _code_name(item.get("code")) if isinstance(item, dict) else None
                if name and name not in data.setdefault("family_history", []):
                    data["family_history"].append(name)
        elif kind == "Observation":
            pregnant = _pregnancy(resource)
            if pregnant is not None:
                data["pregnant"] = pregnant
            elif (measurement := _measurement(resource)) is not None:
                data["measurements"].append(measurement)
        elif kind == "MedicationStatement":
            name = _code_name(resource.get("medicationCodeableConcept"))
            if name:
                period = resource.get("effectivePeriod") or {}
                treatment: dict[str, Any] = {"name": name}
                start = _date(period.get("start") or resource.get("effectiveDateTime"))
                end = _date(period.get("end"))
                if start:
                    treatment["start"] = start.isoformat()
                if end:
                    treatment["end"] = end.isoformat()
                if resource.get("status") in {"active", "completed", "stopped"}:
                    treatment["current"] = resource["status"] == "active"
                data["treatments"].append(treatment)
        elif kind == "Procedure":
            name = _code_name(resource.get("code"))
            if name:
                when = _date(
                    resource.get("performedDateTime") or (resource.get("performedPeriod") or {}).get("start")
                )
                data["events"].append({"name": name, **({"date": when.isoformat()} if when else {})})
    if not data["conditions"] and require_condition:
        raise NoCondition(
            "patientData: no Condition the service can read: give Condition.code.text, a coding display, "
            "or a SNOMED CT / ICD-10 code"
        )
    return {k: v for k, v in data.items() if v != []}


def _location(site: dict[str, Any], index: int) -> dict[str, Any]:
    address = {
        k: v
        for k, v in (
            ("city", site.get("city")),
            ("state", site.get("state")),
            ("postalCode", site.get("zip")),
            ("country", site.get("country")),
        )
        if v
    }
    location: dict[str, Any] = {"resourceType": "Location", "id": f"site-{index}"}
    if site.get("facility"):
        location["name"] = site["facility"]
    if address:
        location["address"] = address
    if site.get("latitude") is not None and site.get("longitude") is not None:
        location["position"] = {"latitude": site["latitude"], "longitude": site["longitude"]}
    telecom = _telecom(site.get("contacts") or [])
    if telecom:
        location["telecom"] = telecom
    if site.get("distance_km") is not None:
        location["extension"] = [
            {
                "url": DISTANCE_EXTENSION,
                "valueQuantity": {
                    "value": site["distance_km"],
                    "unit": "km",
                    "system": "http://unitsofmeasure.org",
                    "code": "km",
                },
            }
        ]
    return location


def _telecom(contacts: list[dict[str, Any]]) -> list[dict[str, str]]:
    telecom = []
    for contact in contacts:
        if contact.get("phone"):
            telecom.append({"system": "phone", "value": str(contact["phone"])})
        if contact.get("email"):
            telecom.append({"system": "email", "value": str(contact["email"])})
    return telecom


def research_study(trial: dict[str, Any], sites: list[dict[str, Any]]) -> dict[str, Any]:
    """A match (or a stored trial) as an R4 ResearchStudy with its sites contained."""
    nct_id = trial["nct_id"]
    study: dict[str, Any] = {
        "resourceType": "ResearchStudy",
        "id": re.sub(r"[^A-Za-z0-9\-.]", "-", nct_id)[:64],
        "identifier": [
            {
                "use": "official",
                "system": NCT_SYSTEM if nct_id.upper().startswith("NCT") else PAGE_SYSTEM,
                "value": nct_id,
            }
        ],
        "status": STATUSES.get(str(trial.get("overall_status")), "in-review"),
    }
    title = trial.get("title") or trial.get("brief_title") or trial.get("official_title")
    if title:
        study["title"] = title
    phases = [PHASES[p] for p in trial.get("phases") or [] if p in PHASES]
    if len(phases) == 2 and phases == ["phase-1", "phase-2"]:
        phases = ["phase-1-phase-2"]
    elif len(phases) == 2 and phases == ["phase-2", "phase-3"]:
        phases = ["phase-2-phase-3"]
    if phases:
        study["phase"] = {"coding": [{"system": PHASE_SYSTEM, "code": phases[0]}]}
    conditions = trial.get("conditions")
    if conditions:
        study["condition"] = [
            {"text": c if isinstance(c, str) else str(c.get("name", c))} for c in conditions
        ]
    contacts = []
    for contact in (sites[0].get("contacts") if sites else None) or []:
        detail: dict[str, Any] = {}
        if contact.get("name"):
            detail["name"] = contact["name"]
        telecom = _telecom([contact])
        if telecom:
            detail["telecom"] = telecom
        if detail:
            contacts.append(detail)
    if contacts:
        study["contact"] = contacts
    if trial.get("lead_sponsor"):
        study["sponsor"] = {"display": trial["lead_sponsor"]}
    url = registry_url(nct_id)
    if url:
        study["relatedArtifact"] = [
            {"type": "documentation", "url": url, "label": "ClinicalTrials.gov record"}
        ]
    if sites:
        study["contained"] = [_location(site, i) for i, site in enumerate(sites)]
        study["site"] = [
            {"reference": f"#site-{i}", "display": site.get("facility") or f"site {i + 1}"}
            for i, site in enumerate(sites)
        ]
    nearest = sites[0] if sites else None
    if nearest and nearest.get("distance_km") is not None:
        where = ", ".join(
            p for p in (nearest.get("facility"), nearest.get("city"), nearest.get("country")) if p
        )
        study["note"] = [
            {"text": f"Nearest open site: {where}, {nearest['distance_km']:g} km from the patient."}
        ]
    return study


def searchset(outcome: dict[str, Any], conditions_by_trial: dict[str, list[str]]) -> dict[str, Any]:
    """A match outcome (its ``--json`` dict) as a searchset Bundle, best first.

    ``search.score`` falls from 1 with the rank: the order is the match's own (no failed
    criterion first, then fewer to check, then the nearest site)."""
    matches = outcome.get("matches", [])
    entries = []
    for rank, match in enumerate(matches):
        trial = {**match, "conditions": conditions_by_trial.get(match["nct_id"], [])}
        entries.append(
            {
                "fullUrl": f"urn:trialsite:ResearchStudy:{match['nct_id']}",
                "resource": research_study(trial, match.get("sites") or [match["nearest_site"]]),
                "search": {"mode": "match", "score": round(1 - rank / max(len(matches), 1), 4)},
            }
        )
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


def operation_outcome(message: str, *, code: str = "invalid") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }
