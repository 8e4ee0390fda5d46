"""CDS Hooks 2.0 (cds-hooks.hl7.org): the discovery document, the hook request, the card.

One service, ``trialsite-nearby-trials`` on ``patient-view``: when a clinician opens a
patient's record, the EHR sends the Patient, her active Conditions, recent Observations and
active MedicationRequests (prefetch, or a FHIR server and a token to read them), and the
service answers one card when recruiting trials have an open site near her — or no card at
all: a hook that nags is switched off.

The card counts only trials with no failed criterion, names the best few with their nearest
open site, its distance and contacts, and what is still to check; its link opens them in
trialsite by a single-use handoff id, never a patient value in a URL.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from api.ehr_record import PREFETCH, check_patient_id
from api.ehr_settings import EhrSettings

SERVICE_ID = "trialsite-nearby-trials"
HOOK = "patient-view"
SOURCE_LABEL = "trialsite"
MAX_SUMMARY = 139  # the specification: "<140-character summary"
MAX_PREFETCH_KEYS = 20
MAX_FEEDBACK = 1000


class HookRequestError(ValueError):
    """A hook request that does not follow the specification; the message names the field."""


@dataclass(frozen=True)
class HookRequest:
    hook_instance: str
    patient_id: str
    prefetch: dict[str, Any]
    fhir_server: str | None
    token: str | None


def discovery() -> dict[str, Any]:
    return {
        "services": [
            {
                "hook": HOOK,
                "id": SERVICE_ID,
                "title": "Recruiting clinical trials near the patient",
                "description": (
                    "When a patient's record is opened: one card if recruiting trials have an open site "
                    "near her (ClinicalTrials.gov records matched on her conditions, age, sex, place, "
                    "measurements and treatments), none otherwise."
                ),
                "prefetch": dict(PREFETCH),
                "usageRequirements": (
                    "The Patient needs an address (city and country, or a postal code) and a coded or "
                    "named Condition. Nothing of a request is stored or logged."
                ),
            }
        ]
    }


def check_hook_request(body: Any) -> HookRequest:
    """The request's fields, checked; raises :class:`HookRequestError` naming the first wrong one."""
    if not isinstance(body, dict):
        raise HookRequestError("body: expected a JSON object (a CDS Hooks request)")
    hook = body.get("hook")
    if hook != HOOK:
        raise HookRequestError(f"hook: this service answers '{HOOK}', got {_shown(hook)}")
    instance = body.get("hookInstance")
    if not isinstance(instance, str) or not instance.strip() or len(instance) > 200:
        raise HookRequestError("hookInstance: expected a UUID string")
    context = body.get("context")
    if not isinstance(context, dict):
        raise HookRequestError("context: expected an object with patientId")
    try:
        patient_id = check_patient_id(context.get("patientId"), "context.patientId")
    except ValueError as exc:
        raise HookRequestError(str(exc)) from None
    prefetch = body.get("prefetch", {})
    if not isinstance(prefetch, dict) or len(prefetch) > MAX_PREFETCH_KEYS:
        raise HookRequestError(f"prefetch: expected an object of at most {MAX_PREFETCH_KEYS} keys")
    for key, value in prefetch.items():
        if value is not None and not isinstance(value, dict):
            raise HookRequestError(f"prefetch.{_key(key)}: expected a FHIR resource or Bundle, or null")
        if isinstance(value, dict) and not isinstance(value.get("resourceType"), str):
            raise HookRequestError(f"prefetch.{_key(key)}.resourceType: expected a string")
    server = body.get("fhirServer")
    if "fhirServer" in body and not _http_url(server):
        raise HookRequestError("fhirServer: expected the http(s) base URL of a FHIR server")
    authorization = body.get("fhirAuthorization")
    token = None
    if "fhirAuthorization" in body:
        if server is None:
            raise HookRequestError("fhirServer: required with fhirAuthorization")
        if not isinstance(authorization, dict):
            raise HookRequestError("fhirAuthorization: expected an object with access_token")
        token = authorization.get("access_token")
        if not isinstance(token, str) or not token.strip() or len(token) > 8192 or not token.isprintable():
            raise HookRequestError("fhirAuthorization.access_token: expected a token string")
        kind = authorization.get("token_type", "Bearer")
        if not isinstance(kind, str) or kind.lower() != "bearer":
            raise HookRequestError("fhirAuthorization.token_type: expected 'Bearer'")
    return HookRequest(instance, patient_id, prefetch, server, token)


def _http_url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2048:
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # "http://[::1", "http://host:port"
        return False


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _key(key: str) -> str:
    return key if key.isidentifier() and len(key) <= 40 else "<key>"


def card(
    outcome: dict[str, Any],
    conditions: list[str],
    settings: EhrSettings,
    *,
    link_url: str | None,
    smart_url: str | None,
    source_url: str | None,
) -> dict[str, Any] | None:
    """The card for a match outcome (``--json`` shape), or None when no trial should be shown."""
    shown = [m for m in outcome.get("matches", []) if not m.get("likely_ineligible")]
    if not shown:
        return None
    count = len(shown)
    radius = outcome.get("radius_km") or settings.cds_radius_km
    recruiting = all(m.get("overall_status") == "RECRUITING" for m in shown)
    what = " / ".join(c.lower() for c in conditions[:2]) or "her conditions"
    summary = (
        f"{count} {'recruiting' if recruiting else 'open'} trial{'' if count == 1 else 's'} "
        f"within {radius:g} km: {what}"
    )
    if len(summary) > MAX_SUMMARY:
        summary = summary[: MAX_SUMMARY - 1].rstrip() + "…"
    result: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": "info",
        "detail": detail(shown[: settings.cds_trials], count),
        "source": {"label": SOURCE_LABEL, **({"url": source_url} if source_url else {})},
    }
    links = []
    if link_url:
        links.append(
            {
                "label": f"Review {'it' if count == 1 else 'them'} in trialsite",
                "url": link_url,
                "type": "absolute",
            }
        )
    if smart_url:
        links.append(
            {"label": "Open trialsite with this record (SMART)", "url": smart_url, "type": "smart",
             "appContext": SERVICE_ID}
        )  # fmt: skip
    if links:
        result["links"] = links
    return result


def detail(matches: list[dict[str, Any]], count: int) -> str:
    """The card's Markdown: each trial, its nearest open site and distance, whom to call,
    what is still to check."""
    lines = []
    for index, match in enumerate(matches, 1):
        title = _md(match.get("title") or match["nct_id"])
        status = str(match.get("overall_status") or "").replace("_", " ").lower()
        lines.append(f"**{index}. {title}** ({_md(match['nct_id'])}, {status})")
        site = match.get("nearest_site") or {}
        where = ", ".join(
            _md(str(p)) for p in (site.get("facility"), site.get("city"), site.get("country")) if p
        )
        distance = site.get("distance_km")
        lines.append(f"- Nearest open site: {where}{f' — {distance:g} km' if distance is not None else ''}")
        contact = next((c for c in site.get("contacts") or [] if c.get("phone") or c.get("email")), None)
        if contact:
            reach = ", ".join(_md(str(contact[k])) for k in ("name", "phone", "email") if contact.get(k))
            lines.append(f"- Contact: {reach}")
        unknown = match.get("unknown_criteria") or []
        if unknown:
            first = "; ".join(_md(_short(v.get("reason") or v.get("text") or "")) for v in unknown[:3])
            more = f" (and {len(unknown) - 3} more)" if len(unknown) > 3 else ""
            lines.append(f"- Still to check ({len(unknown)}): {first}{more}")
        else:
            lines.append("- Still to check: nothing the record could not answer")
        lines.append("")
    if count > len(matches):
        lines.append(f"…and {count - len(matches)} more in trialsite.")
    lines.append("Matched offline on ClinicalTrials.gov records; confirm eligibility with the site.")
    return "\n".join(lines).strip()


def _short(reason: str) -> str:
    """A verdict's reason as what the trial asks (no ": unknown"), at most 120 characters."""
    text = reason.split(" — ", 1)[-1].removeprefix("trial requires ")
    text = text.split(": unknown", 1)[0]
    return text if len(text) <= 120 else text[:119] + "…"


def _md(text: str) -> str:
    """Registry text as literal Markdown: no link, image, emphasis, code or HTML of its own
    (every line it is put on starts with the card's own Markdown, so no heading or list)."""
    return "".join("\\" + c if c in "\\`*_[]<>~" else c for c in text.replace("\n", " "))


class HookCounts:
    """What the service answered, per worker process: cards, no card, records that could not
    be read, feedback. Counts only, never whose."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> dict[str, int]:
        names = ("cards", "no_card", "record_errors", "feedback_accepted", "feedback_overridden")
        with self._lock:
            return {name: self._counts[name] for name in names}


def check_feedback(body: Any) -> Counter[str]:
    """The outcomes a feedback request reports (accepted / overridden), counted."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        raise HookRequestError("feedback: expected an array of feedback objects")
    if len(body["feedback"]) > MAX_FEEDBACK:
        raise HookRequestError(f"feedback: expected at most {MAX_FEEDBACK:,} items")
    outcomes: Counter[str] = Counter()
    for index, item in enumerate(body["feedback"]):
        if not isinstance(item, dict):
            raise HookRequestError(f"feedback[{index}]: expected an object")
        if not isinstance(item.get("card"), str):
            raise HookRequestError(f"feedback[{index}].card: expected the card's uuid")
        outcome = item.get("outcome")
        if outcome not in ("accepted", "overridden"):
            raise HookRequestError(f"feedback[{index}].outcome: expected 'accepted' or 'overridden'")
        if not isinstance(item.get("outcomeTimestamp"), str):
            raise HookRequestError(f"feedback[{index}].outcomeTimestamp: expected an ISO 8601 time")
        outcomes[outcome] += 1
    return outcomes
