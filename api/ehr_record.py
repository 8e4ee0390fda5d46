"""A patient's record read from an EHR's FHIR server: bounded, allowed servers only.

The CDS Hooks service and the SMART launch read the same four things — the Patient, her
active Conditions, recent laboratory (and score) Observations, active MedicationRequests —
by the searches of :data:`PREFETCH`, either handed over by the EHR (a hook's ``prefetch``)
or read here from its FHIR server with the bearer token it gave.

Every exchange with a FHIR server goes through :class:`BoundedSession`: only the URLs the
settings allow (no other host: a hook naming another ``fhirServer`` is refused before any
request), no redirects followed, one deadline for all the reads of one record, and a cap
on each answer's size. A failure is a :class:`RecordError` whose message names the server's
answer (a status, a timeout), never a value of the record. Nothing read is kept.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import orjson
import requests

from ingest.fetch import BodyTooLarge, read_body

FHIR_JSON = "application/fhir+json"
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR R4 id datatype
# The searches a card needs, as CDS Hooks prefetch templates ({{context.patientId}}). The
# SLEDAI-2K and other disease-activity scores are Observations of category survey or exam,
# so they are asked for beside the laboratory ones.
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active,recurrence,relapse",
    "observations": (
        "Observation?patient={{context.patientId}}&category=laboratory,survey,exam&_sort=-date&_count=100"
    ),
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
}
READ_KINDS = frozenset({"Patient", "Condition", "Observation", "MedicationRequest", "MedicationStatement"})


class RecordError(Exception):
    """The record could not be read; the message says why, without any of its values."""


class BoundedSession(requests.Session):
    """A ``requests`` session held to the allowed URLs, one deadline and a size cap.

    Also the session ``fhirclient`` uses for the SMART token exchange and reads."""

    def __init__(
        self,
        allowed: Callable[[str], bool],
        *,
        timeout_s: float,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.trust_env = False  # no proxy or .netrc from the environment for EHR traffic
        self.allowed, self.max_bytes, self.clock = allowed, max_bytes, clock
        self.deadline = clock() + timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        target = url.decode() if isinstance(url, bytes) else url
        if not self.allowed(target):
            raise RecordError(f"{_shown(target)}: not an allowed FHIR server")
        left = self.deadline - self.clock()
        if left <= 0:
            raise RecordError(f"{_shown(target)}: no answer within the deadline")
        kwargs["timeout"] = (min(left, 3.0), left)
        kwargs["stream"] = True
        kwargs["allow_redirects"] = False
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.Timeout:
            raise RecordError(f"{_shown(target)}: no answer within the deadline") from None
        except requests.RequestException as exc:
            raise RecordError(f"{_shown(target)}: {type(exc).__name__}") from None
        try:
            response._content = read_body(response, deadline=self.deadline, max_bytes=self.max_bytes)
        except BodyTooLarge:
            raise RecordError(f"{_shown(target)}: answer larger than {self.max_bytes:,} bytes") from None
        except requests.Timeout:
            raise RecordError(f"{_shown(target)}: no answer within the deadline") from None
        except requests.RequestException as exc:
            raise RecordError(f"{_shown(target)}: {type(exc).__name__}") from None
        finally:
            response.close()
        return response


def _shown(url: str) -> str:
    """A URL as an error may show it: its server and what was asked (a resource type or an
    endpoint's name), never a query or an id (both name the patient)."""
    parts = urlsplit(url)
    server = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
    kinds = [s for s in parts.path.split("/") if s in READ_KINDS]
    what = kinds[0] if kinds else parts.path.rstrip("/").rsplit("/", 1)[-1] or "/"
    return f"{server} {what}"


def check_patient_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not FHIR_ID.fullmatch(value):
        raise ValueError(f"{where}: expected a FHIR id (letters, digits, '-' and '.', up to 64)")
    return value


def read_record(
    session: requests.Session,
    fhir_server: str,
    patient_id: str,
    token: str | None,
    keys: Iterable[str] = tuple(PREFETCH),
) -> list[dict[str, Any]]:
    """The resources the searches of :data:`PREFETCH` named by ``keys`` find, read from
    ``fhir_server`` (``token`` sent as a Bearer); raises :class:`RecordError` (and ValueError
    for a patient id that is no FHIR id)."""
    check_patient_id(patient_id, "patient id")
    headers = {"Accept": FHIR_JSON}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    found: list[dict[str, Any]] = []
    base = fhir_server.rstrip("/") + "/"
    for key in keys:
        template = PREFETCH[key]
        url = urljoin(base, template.replace("{{context.patientId}}", quote(patient_id, safe="")))
        response = session.get(url, headers=headers)
        if response.status_code != 200:
            raise RecordError(f"{_shown(url)}: answered {response.status_code}")
        try:
            document = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise RecordError(f"{_shown(url)}: the answer is not JSON") from None
        found.extend(resources_in(document))
    return found


def resources_in(value: Any) -> list[dict[str, Any]]:
    """The resources of one prefetch value: a resource, or a Bundle of them (a searchset,
    whose OperationOutcome entries are left out)."""
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        found = []
        for entry in entries if isinstance(entries, list) else []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") in READ_KINDS:
                found.append(resource)
        return found
    return [value] if value.get("resourceType") in READ_KINDS else []


def record_bundle(resources: Iterable[dict[str, Any]], patient_id: str | None = None) -> dict[str, Any]:
    """The resources as the patient Bundle ``/getClinicalTrial`` reads (``api.fhir``).

    A MedicationRequest is read as the treatment it orders (the Bundle reader knows
    MedicationStatement): its medication, since ``authoredOn``, current while active. The
    Patient is the one in context when it is named."""
    entries: list[dict[str, Any]] = []
    patients: list[dict[str, Any]] = []
    for resource in resources:
        kind = resource.get("resourceType")
        if kind == "Patient":
            patients.append(resource)
        elif kind == "MedicationRequest":
            entries.append({"resource": _as_statement(resource)})
        else:
            entries.append({"resource": resource})
    patients.sort(key=lambda p: p.get("id") != patient_id)
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": p} for p in patients[:1]] + entries,
    }


def _as_statement(request: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = {"resourceType": "MedicationStatement"}
    if "medicationCodeableConcept" in request:
        statement["medicationCodeableConcept"] = request["medicationCodeableConcept"]
    if "authoredOn" in request:
        statement["effectiveDateTime"] = request["authoredOn"]
    status = request.get("status")
    if status in ("active", "completed", "stopped"):
        statement["status"] = status
    elif status is not None:
        statement["status"] = "unknown"
    return statement
