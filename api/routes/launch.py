"""The pages an EHR opens: a card's handoff link and the SMART launch.

- ``GET /handoff/{id}`` — the profile a CDS card was made from (taken once, within minutes:
  :mod:`api.handoff`) as the ``/match`` form and its trials;
- ``GET /launch?iss=…&launch=…`` — a SMART EHR launch: to the EHR's authorization server;
- ``GET /launch/callback?code=…&state=…`` — back from it: the record read with the token,
  the ``/match`` form filled for review, each value marked "from the record".

Every answer here is ``Cache-Control: no-store``: a page holding a patient's values stays out
of every cache. The URLs hold no patient value (an id, the EHR's opaque launch id, an OAuth
code and state).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.ehr_record import record_bundle
from api.ehr_settings import EhrSettings
from api.fhir import BundleError, bundle_to_patient
from api.handoff import HandoffStore
from api.responses import run_in_store
from api.routes.cds import public_base
from api.routes.pages import _blank_rows, _page, letter_form
from api.service import ProblemError, Service
from api.smart_launch import LaunchError, finish_launch, start_launch

router = APIRouter(include_in_schema=False)
COOKIE = "trialsite_launch"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM_FIELDS = ("age", "birth_date", "sex", "location", "pregnant", "contraception", "conditions",
               "absent_conditions", "family_history", "measurements", "treatments", "events")  # fmt: skip


def _error(request: Request, title: str, detail: str, status: int) -> HTMLResponse:
    response = _page(request, "error.html", {"title": title, "detail": detail}, status)
    response.headers.update(NO_STORE)
    return response


async def record_page(request: Request, patient: dict[str, Any], via: str, notes: list[str]) -> HTMLResponse:
    """The ``/match`` page with the form filled from a record, each value marked, and the trials."""
    form = letter_form(patient)
    from_record = {key for key in FORM_FIELDS if form.get(key)}
    context: dict[str, Any] = {
        "form": _blank_rows(form),
        "patient": form,
        "from_record": from_record,
        "record_via": via,
        "record_notes": notes,
    }
    service: Service = request.app.state.service
    if patient.get("conditions") and patient.get("location"):
        try:
            outcome = await run_in_store(service.match, patient, limit=20)
        except ProblemError as exc:
            context["error"] = exc.detail
            context["error_field"] = exc.field
            context["suggestions"] = exc.extra.get("suggestions") or []
        else:
            context["outcome"] = outcome.to_dict()
    response = _page(request, "match.html", context)
    response.headers.update(NO_STORE)
    return response


@router.get("/handoff/{key}", response_class=HTMLResponse)
async def open_handoff(request: Request, key: Annotated[str, Path(max_length=64)]) -> HTMLResponse:
    store: HandoffStore = request.app.state.handoffs
    held = await run_in_threadpool(store.take, key)
    if held is None or "patient" not in held:
        return _error(
            request,
            "This link has expired",
            "A card's link opens once, within a few minutes. Open the patient's record in the EHR again "
            "for a new card, or enter her details on the Match page.",
            404,
        )
    return await record_page(request, held["patient"], str(held.get("via") or "the EHR"), [])


@router.get("/launch")
async def launch(request: Request, iss: str = "", launch: str = "") -> Response:
    settings: EhrSettings = request.app.state.ehr_settings
    if not iss or not launch:
        return _error(
            request, "Not a launch", "iss and launch: open trialsite from the EHR (SMART launch).", 400
        )
    redirect_uri = f"{public_base(request, settings)}/launch/callback"
    try:
        started = await run_in_threadpool(
            start_launch,
            settings,
            request.app.state.handoffs,
            iss=iss,
            launch=launch,
            redirect_uri=redirect_uri,
        )
    except LaunchError as exc:
        return _error(request, "The launch could not start", str(exc), 400)
    response = RedirectResponse(started.authorize_url, status_code=302, headers=NO_STORE)
    response.set_cookie(
        COOKIE,
        started.cookie,
        max_age=int(settings.handoff_ttl_s),
        path="/launch",
        httponly=True,
        samesite="lax",
        secure=redirect_uri.startswith("https:"),
    )
    return response


@router.get("/launch/callback", response_class=HTMLResponse)
async def launch_callback(request: Request) -> HTMLResponse:
    settings: EhrSettings = request.app.state.ehr_settings
    query = {k: v for k, v in request.query_params.items() if k in ("code", "state", "error")}
    try:
        record = await run_in_threadpool(
            finish_launch,
            settings,
            request.app.state.handoffs,
            query=query,
            cookie=request.cookies.get(COOKIE),
        )
    except LaunchError as exc:
        return _error(request, "The launch did not complete", str(exc), 400)
    notes = []
    try:
        patient = bundle_to_patient(
            record_bundle(record.resources, record.patient_id),
            radius_km=settings.cds_radius_km,
            require_condition=False,
        )
    except BundleError as exc:
        return _error(
            request, "The record could not be read", f"The EHR's record is not usable FHIR R4: {exc}", 422
        )
    if not patient.get("conditions"):
        notes.append("The record has no condition trialsite can read: add her conditions, then find trials.")
    if not patient.get("location"):
        notes.append("The record has no address trialsite can place: add where she lives, then find trials.")
    response = await record_page(request, patient, "the EHR (SMART launch)", notes)
    response.delete_cookie(COOKIE, path="/launch")
    return response
