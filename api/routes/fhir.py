"""FHIR R4 endpoints: ``POST /getClinicalTrial`` (mCODE matching contract) and
``GET /fhir/ResearchStudy/{id}``. Errors are ``OperationOutcome`` resources."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from api.fhir import BundleError, bundle_to_patient, operation_outcome, research_study, searchset
from api.fhir_bundle import BUNDLE_SCHEMA
from api.responses import FastJSON, run_in_store
from api.service import ProblemError, Service
from db.upsert import CONDITION

router = APIRouter(tags=["fhir"])
FHIR_JSON = "application/fhir+json"

BUNDLE_EXAMPLE: dict[str, Any] = {
    "patientData": {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "seed",
                    "gender": "female",
                    "birthDate": "1992-06-01",
                    "address": [{"city": "Palencia", "country": "ES"}],
                }
            },
            {"resource": {"resourceType": "Condition", "code": {"text": "Lupus nephritis"}}},
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "SLEDAI-2K"},
                    "valueQuantity": {"value": 12},
                }
            },
        ],
    },
    "radius_km": 100,
}
OUTCOME_SCHEMA = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
}


def fhir_error(status: int, message: str, code: str = "invalid") -> JSONResponse:
    return JSONResponse(operation_outcome(message, code=code), status_code=status, media_type=FHIR_JSON)


def _conditions(service: Service, nct_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if not nct_ids:
        return found
    with service.engine.connect() as conn:
        rows = conn.execute(
            select(CONDITION.c.nct_id, CONDITION.c.term)
            .where(CONDITION.c.nct_id.in_(nct_ids), CONDITION.c.kind == "listed")
            .order_by(CONDITION.c.nct_id, CONDITION.c.position)
        )
        for nct_id, name in rows:
            found.setdefault(nct_id, []).append(name)
    return found


def _match_bundle(service: Service, body: Any) -> Response:
    if not isinstance(body, dict) or "patientData" not in body:
        return fhir_error(400, 'body: expected {"patientData": <FHIR Bundle>}')
    radius = body.get("radius_km")
    limit = body.get("limit")
    if "radius_km" in body and (
        isinstance(radius, bool) or not isinstance(radius, int | float) or not 0 < radius <= 20000
    ):
        return fhir_error(400, f"radius_km: expected a radius in km (0 to 20000), got {radius!r}")
    if "limit" in body and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000):
        return fhir_error(400, f"limit: expected a whole number from 1 to 1000, got {limit!r}")
    try:
        patient = bundle_to_patient(body["patientData"], radius_km=radius)
        outcome = service.match(patient, limit=limit or 50).to_dict()
    except BundleError as exc:
        return fhir_error(400, str(exc))
    except ProblemError as exc:
        return fhir_error(400, f"patientData: {exc.detail}")
    ids = [m["nct_id"] for m in outcome["matches"]]
    return FastJSON(searchset(outcome, _conditions(service, ids)), media_type=FHIR_JSON)


@router.post(
    "/getClinicalTrial",
    summary="Match a FHIR patient Bundle to trials (mCODE clinical-trial-matching-service contract)",
    description=(
        'Body: `{"patientData": <FHIR R4 Bundle>}` with optional `radius_km` (default 100) and `limit` '
        "(default 50). Reads Patient (birthDate, gender, address), Condition (text, display, SNOMED CT or "
        "ICD-10 code), Observation (valueQuantity by LOINC code or text; pregnancy status), "
        "MedicationStatement and Procedure. Answers a `searchset` Bundle of ResearchStudy, best first, "
        "each with its open sites as contained Locations (with the distance to the patient). Nothing "
        "of the Bundle is stored or logged."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["patientData"],
                        "properties": {
                            "patientData": BUNDLE_SCHEMA,
                            "radius_km": {"type": "number", "exclusiveMinimum": 0, "maximum": 20000},
                            "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    },
                    "example": BUNDLE_EXAMPLE,
                }
            },
        }
    },
    responses={
        200: {
            "description": "A searchset Bundle of ResearchStudy resources, best first.",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        },
        400: {
            "description": "A Bundle the service cannot use.",
            "content": {FHIR_JSON: {"schema": OUTCOME_SCHEMA}},
        },
        413: {"description": "The body is over 1 MB (problem details)."},
    },
    response_class=JSONResponse,
)
async def get_clinical_trial(request: Request) -> Response:
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return fhir_error(400, f"body: not valid JSON ({exc})")
    service: Service = request.app.state.service
    return await run_in_store(_match_bundle, service, body)


@router.get(
    "/fhir/ResearchStudy/{study_id}",
    summary="One stored trial as a FHIR R4 ResearchStudy",
    responses={
        200: {"description": "The ResearchStudy.", "content": {FHIR_JSON: {"schema": {"type": "object"}}}},
        404: {"description": "No such trial.", "content": {FHIR_JSON: {"schema": OUTCOME_SCHEMA}}},
    },
    response_class=JSONResponse,
)
async def get_research_study(
    request: Request,
    study_id: Annotated[str, Path(description="NCT id (or page-derived id).", examples=["NCT03673748"])],
) -> JSONResponse:
    service: Service = request.app.state.service
    try:
        trial = await run_in_store(service.trial, study_id)
    except ProblemError:
        return fhir_error(404, f"ResearchStudy/{study_id}: no such trial in the store", code="not-found")
    trial["title"] = trial.get("brief_title") or trial.get("official_title")
    conditions = [c["name"] if isinstance(c, dict) else c for c in trial.get("conditions") or []]
    return JSONResponse(
        research_study({**trial, "conditions": conditions}, trial.get("sites") or []), media_type=FHIR_JSON
    )
