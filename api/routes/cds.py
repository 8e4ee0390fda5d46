"""CDS Hooks 2.0 routes: discovery, the ``patient-view`` service, its feedback.

- ``GET /cds-services`` — the discovery document (:func:`api.cds_hooks.discovery`);
- ``POST /cds-services/trialsite-nearby-trials`` — a hook request → ``{"cards": [...]}``:
  one card, or none;
- ``POST /cds-services/trialsite-nearby-trials/feedback`` — accepted / overridden, counted.

A request that breaks the specification is a 400 problem naming the field; a ``fhirServer``
the settings do not allow is a 400 before any request is sent to it; a request with no
Patient and no server to read it from is a 412 (the specification's answer when the data
cannot be had). When the record cannot be read from an allowed server (refused, timed
out, too large, not JSON) the answer is no card, the error counted and logged as one line
naming the server and its answer, never a value of the record.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from api.cds_hooks import (
    SERVICE_ID,
    HookCounts,
    HookRequest,
    HookRequestError,
    card,
    check_feedback,
    check_hook_request,
    discovery,
)
from api.ehr_record import PREFETCH, RecordError, read_record, record_bundle, resources_in
from api.ehr_settings import EhrSettings
from api.fhir import BundleError, NoCondition, bundle_to_patient
from api.fhir_bundle import BundleShapeError, check_bundle
from api.handoff import HandoffStore, new_key
from api.problems import problem_response
from api.responses import run_in_store
from api.service import ProblemError, Service
from api.smart_launch import session_for

router = APIRouter(tags=["cds-hooks"])
log = logging.getLogger("trialsite.api")
MATCH_LIMIT = 50
KINDS = {
    "patient": {"Patient"},
    "conditions": {"Condition"},
    "observations": {"Observation"},
    "medications": {"MedicationRequest", "MedicationStatement"},
}
DROPPABLE = re.compile(r"(measurements|treatments|events)\[(\d+)\]")
NO_CARDS: dict[str, Any] = {"cards": []}
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
HOOK_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A CDS Hooks 2.0 request for the patient-view hook.",
    "required": ["hook", "hookInstance", "context"],
    "properties": {
        "hook": {"enum": ["patient-view"]},
        "hookInstance": {"type": "string", "minLength": 1, "maxLength": 200},
        "context": {
            "type": "object",
            "required": ["patientId"],
            "properties": {"patientId": {"type": "string", "pattern": "^[A-Za-z0-9\\-.]{1,64}$"}},
        },
        "prefetch": {
            "type": "object",
            "maxProperties": 20,
            "additionalProperties": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["resourceType"],
                        "properties": {"resourceType": {"type": "string"}},
                    },
                    {"type": "null"},
                ]
            },
        },
        "fhirServer": {"type": "string"},
        "fhirAuthorization": {
            "type": "object",
            "required": ["access_token"],
            "properties": {
                "access_token": {"type": "string"},
                "token_type": {"type": "string", "pattern": "^[Bb][Ee][Aa][Rr][Ee][Rr]$"},
            },
        },
    },
}
FEEDBACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["feedback"],
    "properties": {
        "feedback": {
            "type": "array",
            "maxItems": 1000,
            "items": {
                "type": "object",
                "required": ["card", "outcome", "outcomeTimestamp"],
                "properties": {
                    "card": {"type": "string"},
                    "outcome": {"enum": ["accepted", "overridden"]},
                    "outcomeTimestamp": {"type": "string"},
                },
            },
        }
    },
}
CARDS = {
    "application/json": {
        "schema": {"type": "object", "required": ["cards"], "properties": {"cards": {"type": "array"}}}
    }
}


def public_base(request: Request, settings: EhrSettings) -> str:
    """Links in cards start here: the configured public URL, else this request's own base
    (its Host is one ``--allowed-hosts`` names)."""
    return settings.public_url or str(request.base_url).rstrip("/")


@router.get("/cds-services", summary="CDS Hooks discovery: the services and their prefetch templates")
async def cds_discovery() -> JSONResponse:
    return JSONResponse(discovery())


def missing_keys(prefetch: dict[str, Any]) -> list[str]:
    """The prefetch templates the request did not satisfy: neither by their key nor by
    resources of their kind under another key."""
    kinds = {r["resourceType"] for value in prefetch.values() for r in resources_in(value)}
    return [key for key in PREFETCH if prefetch.get(key) is None and not (kinds & KINDS[key])]


def check_prefetch(prefetch: dict[str, Any]) -> None:
    """Each prefetched resource has the element types FHIR R4 gives them (``api.fhir_bundle``)."""
    for key, value in prefetch.items():
        if not isinstance(value, dict):
            continue
        shown = f"prefetch.{key if key.isidentifier() and len(key) <= 40 else '<key>'}"
        wrapped = (
            value
            if value.get("resourceType") == "Bundle"
            else {"resourceType": "Bundle", "entry": [{"resource": value}]}
        )
        if wrapped.get("entry") in (None, []):
            continue  # an empty searchset: nothing found
        try:
            check_bundle(wrapped, shown)
        except BundleShapeError as exc:
            message = (
                str(exc) if wrapped is value else str(exc).replace(f"{shown}.entry[0].resource", shown, 1)
            )
            raise HookRequestError(message) from None


async def _match(service: Service, patient: dict[str, Any]) -> dict[str, Any] | None:
    """The match outcome, or None when the record cannot be matched (no place, an unknown
    place…). A measurement, treatment or event the matcher refuses (a unit it cannot have)
    is left out rather than losing the card."""
    for _ in range(5):
        try:
            outcome = await run_in_store(service.match, patient, limit=MATCH_LIMIT)
        except ProblemError as exc:
            found = DROPPABLE.match(exc.field or "")
            if found is None:
                return None
            items = patient.get(found.group(1)) or []
            del items[int(found.group(2))]
            continue
        return outcome.to_dict()
    return None


@router.post(
    f"/cds-services/{SERVICE_ID}",
    summary="CDS Hooks patient-view: one card when recruiting trials are near the patient, else none",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": HOOK_REQUEST_SCHEMA}}}
    },
    responses={
        200: {"description": "One card, or none.", "content": CARDS},
        400: {
            "description": "A request that breaks the specification, or a FHIR server not allowed.",
            "content": PROBLEM,
        },
        412: {"description": "No Patient, and no FHIR server to read it from.", "content": PROBLEM},
    },
)
async def call_service(request: Request) -> Response:
    try:
        hook = check_hook_request(orjson.loads(await request.body()))
        check_prefetch(hook.prefetch)
    except orjson.JSONDecodeError:
        return problem_response(400, "Invalid request", "body: not valid JSON")
    except HookRequestError as exc:
        return problem_response(400, "Invalid request", str(exc))
    state = request.app.state
    settings: EhrSettings = state.ehr_settings
    counts: HookCounts = state.hook_counts
    missing = missing_keys(hook.prefetch)
    resources = [r for value in hook.prefetch.values() for r in resources_in(value)]
    fetched = False
    if missing and hook.fhir_server:
        if not settings.allows_fhir_server(hook.fhir_server):
            return problem_response(
                400,
                "FHIR server not allowed",
                "fhirServer: not a FHIR server trialsite is set up to read (TRIALSITE_FHIR_SERVERS)",
            )
        try:
            resources += await _read(settings, hook, missing)
        except RecordError as exc:
            counts.add("record_errors")
            log.warning("CDS hook: the record could not be read: %s", exc)
            return JSONResponse(NO_CARDS)
        fetched = True
    elif "patient" in missing:
        return problem_response(
            412, "Patient not given", "prefetch.patient: no Patient, and no fhirServer to read it from"
        )
    try:
        patient = bundle_to_patient(
            record_bundle(resources, hook.patient_id), radius_km=settings.cds_radius_km
        )
    except NoCondition:
        counts.add("no_card")
        return JSONResponse(NO_CARDS)
    except BundleError as exc:
        if not fetched:
            return problem_response(400, "Invalid request", f"prefetch: {exc}")
        counts.add("record_errors")
        log.warning("CDS hook: the record read is not usable FHIR R4")
        return JSONResponse(NO_CARDS)
    outcome = await _match(state.service, patient) if patient.get("location") else None
    base = public_base(request, settings)
    key = new_key()
    # A SMART link too when the EHR is one trialsite reads (it can launch trialsite).
    smart = bool(hook.fhir_server and settings.allows_fhir_server(hook.fhir_server))
    made = (
        card(
            outcome,
            patient.get("conditions") or [],
            settings,
            link_url=f"{base}/handoff/{key}",
            smart_url=f"{base}/launch" if smart else None,
            source_url=base,
        )
        if outcome is not None
        else None
    )
    if made is None:
        counts.add("no_card")
        return JSONResponse(NO_CARDS)
    store: HandoffStore = state.handoffs
    try:
        await run_in_threadpool(store.put, {"patient": patient, "via": "a CDS Hooks card"}, key)
    except Exception as exc:  # the shared store gone (api.handoff): the card, without its link
        log.error("CDS hook: the handoff store failed (%s): card sent without its link", type(exc).__name__)
        made["links"] = [link for link in made.get("links", []) if link["type"] == "smart"]
        if not made["links"]:
            del made["links"]
    counts.add("cards")
    return JSONResponse({"cards": [made]})


async def _read(settings: EhrSettings, hook: HookRequest, keys: list[str]) -> list[dict[str, Any]]:
    assert hook.fhir_server is not None
    return await run_in_threadpool(
        read_record, session_for(settings), hook.fhir_server, hook.patient_id, hook.token, keys
    )


@router.post(
    f"/cds-services/{SERVICE_ID}/feedback",
    summary="CDS Hooks feedback: accepted / overridden, counted",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": FEEDBACK_SCHEMA}}}
    },
    responses={
        200: {"description": "Counted.", "content": {"application/json": {"schema": {"type": "object"}}}},
        400: {"description": "Not a feedback request.", "content": PROBLEM},
    },
)
async def feedback(request: Request) -> Response:
    try:
        outcomes = check_feedback(orjson.loads(await request.body()))
    except orjson.JSONDecodeError:
        return problem_response(400, "Invalid request", "body: not valid JSON")
    except HookRequestError as exc:
        return problem_response(400, "Invalid request", str(exc))
    counts: HookCounts = request.app.state.hook_counts
    for outcome, n in outcomes.items():
        counts.add(f"feedback_{outcome}", n)
    return JSONResponse({})


@router.post("/cds-services/{service_id}", include_in_schema=False)
@router.post("/cds-services/{service_id}/feedback", include_in_schema=False)
async def no_such_service(service_id: str) -> Response:
    return problem_response(404, "No such service", f"service: no CDS service {service_id[:64]!r}")


class CdsCors:
    """CORS on ``/cds-services`` for the browser origins the settings allow (a browser-based
    CDS client calls the service from its own origin); no other path, no other origin."""

    def __init__(self, app: Any, origins: tuple[str, ...]) -> None:
        self.app = app
        self.origins = {o.rstrip("/").lower() for o in origins}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/cds-services"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin.lower() not in self.origins:
            await self.app(scope, receive, send)
            return
        allow = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            allow += [
                (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                (b"access-control-allow-headers", b"authorization, content-type"),
                (b"access-control-max-age", b"600"),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": allow})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *allow]
            await send(message)

        await self.app(scope, receive, with_cors)
