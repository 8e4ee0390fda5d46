"""``/api/v1``: the JSON API, the same shapes as the CLI's ``--json``.

``match`` takes the patient JSON of ``trialsite match --schema`` in a POST body (never
in a URL); ``search`` is a GET an advocate can share. ``Accept: text/csv`` (or
``format=csv``) on either gives one row per trial and nearest site.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from api.models import (
    ChangeEvent,
    Health,
    PlaceResponse,
    Stats,
    TrialResponse,
    error_responses,
    patient_request_body,
)
from api.responses import json_response, run_in_store
from api.service import ProblemError, Service
from matching.tabular import outcome_csv

router = APIRouter()
CSV = "text/csv; charset=utf-8"

Limit = Annotated[int | None, Query(ge=1, le=1000, description="At most this many trials (default: all).")]
Miles = Annotated[bool, Query(description="Also give distances in miles (kilometres stay).")]
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="`csv` for one row per trial and nearest site (same as `Accept: text/csv`)."),
]


def service(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


async def answer(request: Request, data: dict[str, Any], fmt: str | None, filename: str) -> Response:
    if wants_csv(request, fmt):
        return Response(
            outcome_csv(data),
            media_type=CSV,
            headers={"content-disposition": f'attachment; filename="{filename}.csv"'},
        )
    return await json_response(data)


async def read_json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise ProblemError(
            400, "Invalid input", "body: expected a patient JSON object, got an empty body", field="body"
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProblemError(400, "Invalid input", f"body: not valid JSON ({exc})", field="body") from None


MATCH_CONTENT = {
    "application/json": {"schema": {"$ref": "#/components/schemas/MatchResponse"}},
    "text/csv": {"schema": {"type": "string"}, "example": "rank,nct_id,title,...\r\n"},
}


@router.post(
    "/api/v1/match",
    tags=["match"],
    summary="Trials a referred patient could join, at which open site, how far, whom to call",
    description=(
        "The body is the patient JSON of `trialsite match --schema`. Trials with no failed criterion "
        "come first, then fewer criteria to check, then the nearest open site. Patient details are "
        "used for this answer only: never stored or logged."
    ),
    openapi_extra={"requestBody": patient_request_body()},
    responses={
        200: {"description": "Matches, best first.", "content": MATCH_CONTENT},
        **error_responses(400, 413, 422),
    },
    response_class=JSONResponse,
)
async def post_match(
    request: Request,
    limit: Limit = None,
    eligible_only: Annotated[bool, Query(description="Hide trials with a failed criterion.")] = False,
    miles: Miles = False,
    format: Format = None,
) -> Response:
    data = await read_json_body(request)
    outcome = await run_in_store(
        service(request).match, data, limit=limit, eligible_only=eligible_only, miles=miles
    )
    return await answer(request, outcome.to_dict(miles=miles), format, "matches")


LETTER_BODY = {
    "required": True,
    "description": 'The referral letter: its text as `text/plain` (UTF-8), or JSON `{"text": "…"}`.',
    "content": {
        "text/plain": {
            "schema": {"type": "string"},
            "example": "34-year-old woman from Palencia, Spain, biopsy-proven class IV lupus nephritis in "
            "March 2026, SLEDAI-2K 12, eGFR 68 mL/min/1.73 m2, on mycophenolate.",
        },
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["text"],
                "properties": {"text": {"type": "string"}},
                "additionalProperties": False,
            }
        },
    },
}
REFERRAL_SCHEMA = {
    "type": "object",
    "required": ["patient", "evidence", "ignored", "warnings"],
    "properties": {
        "patient": {"$ref": "#/components/schemas/Patient"},
        "evidence": {"type": "array", "items": {"$ref": "#/components/schemas/Evidence"}},
        "ignored": {"type": "array", "items": {"$ref": "#/components/schemas/Evidence"}},
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
}


@router.post(
    "/api/v1/referral/parse",
    tags=["match"],
    summary="Read a referral letter into a patient profile, for review before matching",
    description=(
        "English or Spanish. The answer is `trialsite referral parse --json`: the patient JSON that "
        "`/api/v1/match` takes, each fact beside the words it came from (`evidence`: field, text, "
        "start, end), what was set aside and why (`ignored`: negated, family history, hypothetical) "
        "and `warnings`. It never matches: review the profile, then POST it to `/api/v1/match`. "
        "Nothing of the letter is stored or logged."
    ),
    openapi_extra={"requestBody": LETTER_BODY},
    responses={
        200: {
            "description": "The profile read.",
            "content": {"application/json": {"schema": REFERRAL_SCHEMA}},
        },
        **error_responses(400, 413, 422),
    },
    response_class=JSONResponse,
)
async def post_referral_parse(request: Request) -> Response:
    raw = await request.body()
    if "json" in request.headers.get("content-type", ""):
        data = await read_json_body(request)
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or set(data) != {"text"}:
            raise ProblemError(422, "Invalid input", 'body: expected {"text": "the letter"}', field="body")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProblemError(
                400, "Invalid input", "body: the letter is not UTF-8 text", field="body"
            ) from None
    parsed = await run_in_store(service(request).referral, text)
    return await json_response(parsed)


@router.get(
    "/api/v1/search",
    tags=["search"],
    summary="Search trials by condition and place",
    description="Open trials (by default) mentioning the condition, with their nearest open site to `near`.",
    responses={
        200: {"description": "Trials, nearest open site first.", "content": MATCH_CONTENT},
        **error_responses(404, 422),
    },
    response_class=JSONResponse,
)
async def get_search(
    request: Request,
    condition: Annotated[
        str,
        Query(
            min_length=1,
            max_length=500,
            description="Condition, e.g. 'lupus nephritis', 'SLE'.",
            examples=["lupus nephritis"],
        ),
    ],
    near: Annotated[
        str | None,
        Query(max_length=500, description="Place, postal code or 'lat,lon'.", examples=["Palencia, Spain"]),
    ] = None,
    radius_km: Annotated[float, Query(gt=0, le=20000, description="Radius around `near`, km.")] = 100.0,
    status: Annotated[
        list[str] | None,
        Query(description="Trial status (repeatable; default: the open ones), e.g. RECRUITING."),
    ] = None,
    phase: Annotated[
        list[str] | None, Query(description="PHASE1…PHASE4, EARLY_PHASE1, NA (repeatable).")
    ] = None,
    age: Annotated[
        float | None, Query(ge=0, le=130, description="Only trials taking this age (years).")
    ] = None,
    sex: Annotated[
        Literal["female", "male"] | None, Query(description="Only trials taking this sex.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many trials.")] = 20,
    offset: Annotated[int, Query(ge=0, le=100000, description="Skip this many trials first.")] = 0,
    miles: Miles = False,
    format: Format = None,
) -> Response:
    outcome = await run_in_store(
        service(request).search,
        condition,
        near=near,
        radius_km=radius_km,
        statuses=status,
        phases=phase,
        age=age,
        sex=sex,
        limit=limit,
        offset=offset,
        miles=miles,
    )
    return await answer(request, outcome.to_dict(miles=miles), format, "trials")


@router.get(
    "/api/v1/trials/{trial_id}",
    tags=["trials"],
    summary="One stored trial, as `trialsite show --json`",
    response_model=TrialResponse,
    responses=error_responses(404, 422),
)
async def get_trial(
    request: Request,
    trial_id: Annotated[
        str, Path(max_length=64, description="NCT id (or page-derived id).", examples=["NCT03673748"])
    ],
    near: Annotated[
        str | None, Query(max_length=500, description="Order sites by distance from this place.")
    ] = None,
) -> Any:
    return await run_in_store(service(request).trial, trial_id, near=near)


@router.get(
    "/api/v1/geocode",
    tags=["places"],
    summary="Resolve a place offline",
    response_model=PlaceResponse,
    responses=error_responses(404, 422),
)
async def get_geocode(
    request: Request,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=500,
            description="A place, a postal code or 'lat,lon'.",
            examples=["Palencia, Spain"],
        ),
    ],
) -> Any:
    return await run_in_store(service(request).geocode, q)


@router.get(
    "/api/v1/changes",
    tags=["trials"],
    summary="Change events, newest first",
    response_model=list[ChangeEvent],
    responses=error_responses(422),
)
async def get_changes(
    request: Request,
    since: Annotated[
        str | None,
        Query(
            pattern=r"^\d{4}-\d{2}-\d{2}$",
            description="Only events detected on or after this date (YYYY-MM-DD).",
            examples=["2026-12-01"],
        ),
    ] = None,
    trial_id: Annotated[str | None, Query(max_length=64, description="Only this trial's events.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many events.")] = 100,
) -> Any:
    try:
        day = dt.date.fromisoformat(since) if since else None
    except ValueError:
        raise ProblemError(
            422, "Invalid input", f"since: expected a date (YYYY-MM-DD), got {since!r}", field="since"
        ) from None
    return await run_in_store(service(request).changes, since=day, trial_id=trial_id, limit=limit)


@router.get("/api/v1/stats", tags=["store"], summary="What the store holds", response_model=Stats)
async def get_stats(request: Request) -> Any:
    return await run_in_store(service(request).stats)


@router.get(
    "/healthz",
    tags=["store"],
    summary="Store reachable, schema current, gazetteer ready",
    response_model=Health,
    responses={503: {"description": "Not ready: the body says what is missing.", "model": Health}},
)
async def healthz(request: Request) -> Any:
    report = await run_in_store(service(request).health)
    report["cds_hooks"] = request.app.state.hook_counts.snapshot()  # this worker's counts
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
