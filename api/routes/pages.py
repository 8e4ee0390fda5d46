"""The web pages: ``/`` (advocates search), ``/match`` (nephrologists match a patient),
``/trials/{id}``, a printable referral summary, and ``/docs`` (the API, from its OpenAPI).

Server-rendered (Jinja2), local CSS and one small script file, no off-site asset. The
search form's inputs are named like the API's query parameters, so a results page is a
shareable URL; the match form is sent by POST, so a patient's details never sit in a URL,
a log or a store.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.datastructures import FormData

from api.responses import run_in_store
from api.service import STATUSES, ProblemError, Service
from db.display import strip_bidi
from ingest.criteria.categories import CATEGORY_REASONS, category_of
from ingest.criteria.describe import describe_rule
from matching.match import status_words
from matching.tabular import registry_url

HERE = FilePath(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
# Every value a template prints, registry text above all, without bidirectional controls
# (they reorder what a reader sees: db.display). Set before any template is compiled.
templates.env.finalize = lambda value: (
    (Markup(strip_bidi(value)) if isinstance(value, Markup) else strip_bidi(value))
    if isinstance(value, str)
    else value
)
templates.env.globals["registry_url"] = registry_url
templates.env.filters["describe_rule"] = describe_rule
templates.env.filters["status_words"] = status_words
router = APIRouter(include_in_schema=False)
MEASUREMENT_ROWS = 4
TREATMENT_ROWS = 3
EVENT_ROWS = 2
OPEN_CHOICES = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION")


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")


def _service(request: Request) -> Service:
    found: Service = request.app.state.service
    return found


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


@router.get("/", response_class=HTMLResponse)
async def search_page(
    request: Request,
    condition: str = "",
    near: str = "",
    radius_km: str = "100",
    status: Annotated[list[str] | None, Query()] = None,
) -> HTMLResponse:
    form = {"condition": condition, "near": near, "radius_km": radius_km, "status": status or []}
    context: dict[str, Any] = {"form": form, "statuses": STATUSES, "open_choices": OPEN_CHOICES}
    if not condition.strip():
        return _page(request, "search.html", context)
    try:
        radius = float(radius_km)
        if not 0 < radius <= 20000:
            raise ValueError
    except ValueError:
        context["error"] = f"radius_km: expected a radius in km (1 to 20000), got {radius_km!r}"
        return _page(request, "search.html", context, 422)
    try:
        outcome = await run_in_store(
            _service(request).search,
            condition,
            near=near or None,
            radius_km=radius,
            statuses=status,
            limit=50,
        )
    except ProblemError as exc:
        context["error"] = exc.detail
        context["suggestions"] = exc.extra.get("suggestions") or []
        return _page(request, "search.html", context, exc.status)
    context["outcome"] = outcome.to_dict()
    return _page(request, "search.html", context)


def _rows(form: FormData, prefix: str, keys: tuple[str, ...]) -> list[dict[str, str]]:
    columns = {key: [str(v) for v in form.getlist(f"{prefix}_{key}")] for key in keys}
    count = max((len(v) for v in columns.values()), default=0)
    rows = []
    for i in range(count):
        row = {key: (columns[key][i].strip() if i < len(columns[key]) else "") for key in keys}
        if any(row.values()):
            rows.append(row)
    return rows


def form_patient(form: FormData) -> tuple[dict[str, Any], dict[str, Any]]:
    """The patient JSON a submitted match form describes, and the form's values to show again.

    Only what the clinician filled in is sent on; parsing and validation are the API's
    (``parse_patient``), so a wrong value is named the same way."""
    text = {
        k: str(form.get(k) or "").strip()
        for k in ("age", "birth_date", "sex", "location", "radius_km", "pregnant", "contraception")
    }
    lists = {
        key: [line.strip() for line in str(form.get(key) or "").splitlines() if line.strip()]
        for key in ("conditions", "absent_conditions", "family_history")
    }
    measurements = _rows(form, "measurement", ("name", "value", "unit"))
    treatments = _rows(form, "treatment", ("name", "start", "end"))
    events = _rows(form, "event", ("name", "date"))
    shown = {
        **text,
        **{key: "\n".join(values) for key, values in lists.items()},
        "measurements": measurements,
        "treatments": treatments,
        "events": events,
    }
    data: dict[str, Any] = {}
    for key in ("age", "radius_km"):
        if text[key]:
            data[key] = _number(text[key])
    for key in ("birth_date", "sex", "location"):
        if text[key]:
            data[key] = text[key]
    for key in ("pregnant", "contraception"):
        if text[key] in {"yes", "no"}:
            data[key] = text[key] == "yes"
    for key, values in lists.items():
        if values:
            data[key] = values
    if measurements:
        data["measurements"] = [
            {"name": m["name"], "value": _number(m["value"]), **({"unit": m["unit"]} if m["unit"] else {})}
            for m in measurements
        ]
    if treatments:
        data["treatments"] = [{k: v for k, v in t.items() if v} for t in treatments]
    if events:
        data["events"] = [{k: v for k, v in e.items() if v} for e in events]
    return data, shown


def _number(text: str) -> float | str:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return text  # parse_patient names the field and what it expected


def _blank_rows(shown: dict[str, Any]) -> dict[str, Any]:
    shown.setdefault("measurements", [])
    shown.setdefault("treatments", [])
    shown.setdefault("events", [])
    padded = dict(shown)
    padded["measurements"] = shown["measurements"] + [{}] * max(
        0, MEASUREMENT_ROWS - len(shown["measurements"])
    )
    padded["treatments"] = shown["treatments"] + [{}] * max(0, TREATMENT_ROWS - len(shown["treatments"]))
    padded["events"] = shown["events"] + [{}] * max(0, EVENT_ROWS - len(shown["events"]))
    return padded


@router.get("/match", response_class=HTMLResponse)
async def match_form(request: Request) -> HTMLResponse:
    return _page(request, "match.html", {"form": _blank_rows({"radius_km": "100"})})


@router.post("/match", response_class=HTMLResponse)
async def match_results(request: Request) -> HTMLResponse:
    form = await request.form()
    data, shown = form_patient(form)
    context: dict[str, Any] = {"form": _blank_rows(shown), "patient": shown}
    try:
        outcome = await run_in_store(_service(request).match, data, limit=20)
    except ProblemError as exc:
        context["error"] = exc.detail
        context["error_field"] = exc.field
        context["suggestions"] = exc.extra.get("suggestions") or []
        return _page(request, "match.html", context, exc.status)
    context["outcome"] = outcome.to_dict()
    return _page(request, "match.html", context)


def letter_form(patient: dict[str, Any]) -> dict[str, Any]:
    """A letter's patient profile as the match form's values, for the clinician to review."""

    def text(value: Any) -> str:
        return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    def yes_no(key: str) -> str:
        value = patient.get(key)
        return "" if value is None else ("yes" if value else "no")

    return {
        "age": text(patient.get("age")),
        "birth_date": text(patient.get("birth_date")),
        "sex": text(patient.get("sex")),
        "location": text(patient.get("location")),
        "radius_km": text(patient.get("radius_km") or 100),
        "pregnant": yes_no("pregnant"),
        "contraception": yes_no("contraception"),
        "conditions": "\n".join(patient.get("conditions") or []),
        "absent_conditions": "\n".join(patient.get("absent_conditions") or []),
        "family_history": "\n".join(patient.get("family_history") or []),
        "measurements": [
            {"name": m.get("name", ""), "value": text(m.get("value")), "unit": text(m.get("unit"))}
            for m in patient.get("measurements") or []
        ],
        "treatments": [
            {"name": t.get("name", ""), "start": text(t.get("start")), "end": text(t.get("end"))}
            for t in patient.get("treatments") or []
        ],
        "events": [
            {"name": e.get("name", ""), "date": text(e.get("date"))} for e in patient.get("events") or []
        ],
    }


@router.post("/match/letter", response_class=HTMLResponse)
async def match_from_letter(request: Request) -> HTMLResponse:
    """Read a pasted referral letter into the match form, for review: never matches."""
    form = await request.form()
    letter = str(form.get("letter") or "")
    context: dict[str, Any] = {"letter": letter, "form": _blank_rows({"radius_km": "100"})}
    try:
        parsed = await run_in_store(_service(request).referral, letter)
    except ProblemError as exc:
        context["letter_error"] = exc.detail
        return _page(request, "match.html", context, exc.status)
    context["form"] = _blank_rows(letter_form(parsed["patient"]))
    context["letter_parse"] = parsed
    return _page(request, "match.html", context)


@router.post("/match/summary", response_class=HTMLResponse)
async def referral_summary(request: Request) -> HTMLResponse:
    """One trial's referral summary for the patient the form describes (print stylesheet)."""
    form = await request.form()
    data, shown = form_patient(form)
    nct_id = str(form.get("nct_id") or "")
    try:
        outcome = await run_in_store(_service(request).match, data)
    except ProblemError as exc:
        return _page(request, "match.html", {"form": _blank_rows(shown), "error": exc.detail}, exc.status)
    chosen = next((m for m in outcome.to_dict()["matches"] if m["nct_id"] == nct_id), None)
    if chosen is None:
        return _page(
            request,
            "match.html",
            {"form": _blank_rows(shown), "error": f"nct_id: {nct_id!r} is not among this patient's matches"},
            404,
        )
    return _page(request, "summary.html", {"m": chosen, "patient": shown, "place": outcome.place})


@router.get("/trials/{trial_id}", response_class=HTMLResponse)
async def trial_page(
    request: Request,
    trial_id: Annotated[str, Path(max_length=64)],
    near: str = "",
) -> HTMLResponse:
    service = _service(request)
    context: dict[str, Any] = {"near": near}
    try:
        trial = await run_in_store(service.trial, trial_id, near=near or None)
    except ProblemError as exc:
        if exc.status == 404:
            return _page(request, "error.html", {"title": "Trial not found", "detail": exc.detail}, 404)
        context["error"] = exc.detail
        context["suggestions"] = exc.extra.get("suggestions") or []
        trial = await run_in_store(service.trial, trial_id)
    context["trial"] = trial
    context["changes"] = await run_in_store(service.changes, trial_id=trial["nct_id"], limit=20)
    context["criteria"] = _criteria_view(trial)
    return _page(request, "trial.html", context)


def _criteria_view(trial: dict[str, Any]) -> list[dict[str, Any]]:
    """Each criterion item's text in pieces, the spans a rule was parsed from marked."""
    items = []
    for item in trial.get("criteria") or []:
        text = item.get("text") or ""
        spans = sorted(
            {
                (int(r["span"][0]), int(r["span"][1]))
                for r in item.get("rules") or []
                if isinstance(r, dict) and isinstance(r.get("span"), list | tuple) and len(r["span"]) == 2
            }
        )
        pieces: list[tuple[str, bool]] = []
        at = 0
        for start, end in spans:
            start, end = max(start, at), min(end, len(text))
            if start >= end:
                continue
            pieces.append((text[at:start], False))
            pieces.append((text[start:end], True))
            at = end
        pieces.append((text[at:], False))
        rules = [r for r in item.get("rules") or [] if isinstance(r, dict)]
        category = category_of(text, rules)
        note = f"{category}: {CATEGORY_REASONS[category]}" if category != "clinical" else None
        items.append({"section": item.get("section"), "pieces": pieces, "rules": rules, "note": note})
    return items


@router.get("/docs", response_class=HTMLResponse)
async def api_docs(request: Request) -> HTMLResponse:
    document = request.app.openapi()
    operations = []
    for path, methods in document.get("paths", {}).items():
        for method, op in methods.items():
            operations.append({"path": path, "method": method.upper(), **op})
    return _page(request, "docs.html", {"doc": document, "operations": operations})


@router.get("/favicon.ico")
async def favicon() -> Response:
    return Response(status_code=204)
