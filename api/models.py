"""The API's documented shapes: what ``/openapi.json`` says each operation takes and answers.

They describe the dicts the CLI's ``--json`` prints (the service returns those dicts,
not copies); each model allows the extra keys a newer store adds, so documentation never
filters an answer.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from matching.patient import Patient

PATIENT_EXAMPLE: dict[str, Any] = {
    "age": 34,
    "sex": "female",
    "location": "Palencia, Spain",
    "radius_km": 100,
    "conditions": ["lupus nephritis"],
    "measurements": [{"name": "SLEDAI-2K", "value": 12}],
}


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Contact(Open):
    name: str | None = None
    role: str | None = None
    phone: str | None = None
    email: str | None = None


class SiteView(Open):
    facility: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    status: str | None = Field(None, description="The site's recruitment status.")
    latitude: float | None = None
    longitude: float | None = None
    distance_km: float | None = Field(None, description="Great-circle distance from the patient, km.")
    contacts: list[Contact] = []


class Verdict(Open):
    status: Literal["met", "not_met", "unknown"]
    reason: str


class CriterionVerdict(Verdict):
    position: int
    section: str
    text: str
    category: Literal["clinical", "administrative", "empty"] = Field(
        "clinical",
        description="administrative: consent, compliance, language, visits — confirmed at screening, "
        "not counted among the clinical criteria to check; empty: an item that states nothing ('-').",
    )


class Check(Verdict):
    check: str


class Match(Open):
    nct_id: str = Field(description="NCT id, or a stable id for a trial page without one.")
    title: str | None = None
    overall_status: str | None = None
    status_note: str | None = None
    phases: list[str] = []
    lead_sponsor: str | None = None
    likely_ineligible: bool = Field(description="A parsed criterion is not met.")
    why: str = Field(description="Why the trial matched, in words.")
    nearest_site: SiteView
    sites: list[SiteView] = Field(description="Open sites within the radius, nearest first.")
    checks: list[Check] = Field(description="Age and sex against the trial's limits.")
    criteria: list[CriterionVerdict] = Field(description="Every criterion item's verdict.")
    failed_criteria: list[CriterionVerdict] = []
    unknown_criteria: list[CriterionVerdict] = Field([], description="Clinical criteria still to check.")
    administrative_criteria: list[CriterionVerdict] = Field(
        [], description="Administrative items (consent, compliance, visits): confirm at screening."
    )


class PlaceView(Open):
    lat: float
    lon: float
    name: str
    country_code: str | None = None
    note: str | None = None
    alternatives: list[Any] = []


class MatchResponse(Open):
    place: PlaceView | None = Field(description="Where the patient (or `near`) was placed.")
    radius_km: float | None = None
    considered: int = Field(description="Candidate trials considered.")
    removed_by: dict[str, int] = Field(description="How many candidates each hard filter removed.")
    hint: str | None = Field(description="With no match: which filter to widen.")
    matches: list[Match]
    units: Literal["km", "mi"]


class PlaceResponse(Open):
    query: str
    lat: float
    lon: float
    name: str
    country_code: str | None = None
    admin1: str | None = None
    kind: str
    precision: str
    alternatives: list[Any] = []
    note: str | None = None


class TrialResponse(Open):
    nct_id: str
    brief_title: str | None = None
    official_title: str | None = None
    overall_status: str | None = None
    phases: list[str] = []
    sites: list[Open] = []
    conditions: list[Any] = []
    criteria: list[Open] = []


class ChangeEvent(Open):
    nct_id: str
    kind: str
    field: str | None = None
    old_value: Any = None
    new_value: Any = None
    detected_at: str | None = None


class Stats(Open):
    trials: int
    sites: int
    by_status: dict[str, int]


class Health(Open):
    status: Literal["ok", "unavailable"]
    store: str
    schema_revision: str | None = None
    schema_head: str | None = None
    gazetteer: str
    last_sync: dict[str, Any] | None = Field(
        None, description="The last `trialsite sync` run: status, mode, times."
    )
    sync_watermark: str | None = Field(None, description="The registry timestamp the store is in step with.")
    cds_hooks: dict[str, int] | None = Field(
        None, description="This worker's CDS Hooks counts: cards, no card, records not read, feedback."
    )


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = Field(
        description="What was wrong, naming the field: `age: expected a number of years, got 'abc'`."
    )
    field: str | None = None
    suggestions: list[str] | None = None


_ERROR_TEXT = {
    400: "The body is not a JSON object (problem details).",
    404: "Not found (problem details).",
    413: "The body is over 1 MB (problem details).",
    422: "A field is invalid; `detail` names it (problem details).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": _ERROR_TEXT[status],
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def patient_request_body() -> dict[str, Any]:
    return {
        "required": True,
        "description": "The patient, as `trialsite match --schema` describes her.",
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Patient"},
                "example": PATIENT_EXAMPLE,
            }
        },
    }


class Evidence(Open):
    """Where a fact of a referral letter came from: the field it fills and the words, by offset."""

    field: str
    text: str
    start: int
    end: int


def extra_schemas() -> dict[str, Any]:
    """Components the operations reference by hand: the patient (and its parts), problems."""
    schemas: dict[str, Any] = {}
    for model in (Patient, Problem, Evidence):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas
