"""A loopback EHR for tests and ``bench/cds_hooks.py``: a FHIR R4 server and a SMART
authorization server in one ``http.server`` on 127.0.0.1, serving recorded patients.

- ``{base}/fhir/Patient/{id}``, ``/fhir/Condition?patient=…``, ``/fhir/Observation?patient=…``,
  ``/fhir/MedicationRequest?patient=…`` — the patient's recorded resources (searchset Bundles),
  only with ``Authorization: Bearer {token}``;
- ``{base}/fhir/.well-known/smart-configuration`` — the authorization and token endpoints;
- ``{base}/auth/authorize`` — an EHR launch approved at once: checks the client id, the
  audience, the launch id and that PKCE S256 is asked, then redirects to the app with a code;
- ``{base}/auth/token`` — the code for a token, only with the code verifier whose SHA-256
  the authorization request carried; answers the launch's patient.

Each request is recorded (``requests``: method, path and query, the Authorization header).
``misbehave`` makes the FHIR reads fail as EHRs were seen to: ``status`` (answer
``fail_status``), ``trickle`` (a byte every 0.5 s), ``endless`` (a body that never ends),
``not_json``. Usage::

    with serve_ehr(load_patients(SEED, MCODE)) as ehr:
        ehr.fhir_base, ehr.token, ehr.new_launch("seed-palencia")
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "ehr"
SEED = FIXTURES / "seed-patient.json"
MCODE = FIXTURES / "mcode" / "patient_data.json"
MCODE_NO_ADDRESS = FIXTURES / "mcode" / "eom_patient_1.json"
SEED_ID = "seed-palencia"
# Values of the seed patient's record that no URL, card or server log may show.
SEED_VALUES = (
    "Palencia",
    "34001",
    "1992-03-14",
    "Ejemplo",
    "Lucía",
    "MRN-0034-PAL",
    "lupus",
    "Lupus",
    SEED_ID,
)
SPEC = FIXTURES / "cds-hooks-spec"
SEARCHABLE = {"Condition", "Observation", "MedicationRequest"}


def load_patients(*paths: Path) -> dict[str, list[dict[str, Any]]]:
    """Each recorded Bundle's resources under its Patient's id."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        resources = [e["resource"] for e in bundle["entry"]]
        patient = next(r for r in resources if r["resourceType"] == "Patient")
        found[patient["id"]] = resources
    return found


@dataclass
class Ehr:
    patients: dict[str, list[dict[str, Any]]]
    client_id: str = "trialsite"
    token: str = field(default_factory=lambda: "ehr-" + secrets.token_urlsafe(16))
    misbehave: str | None = None
    fail_status: int = 500
    base: str = ""
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    launches: dict[str, str] = field(default_factory=dict)  # launch id -> patient id
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def fhir_base(self) -> str:
        return f"{self.base}/fhir"

    def new_launch(self, patient_id: str) -> str:
        launch = secrets.token_urlsafe(12)
        self.launches[launch] = patient_id
        return launch

    def reads(self) -> list[tuple[str, str | None]]:
        """(path, Authorization header) of each FHIR resource read."""
        return [(p, a) for m, p, a in self.requests if p.startswith("/fhir/") and ".well-known" not in p]

    def search(self, kind: str, params: dict[str, str]) -> dict[str, Any]:
        resources = [r for r in self.patients.get(params.get("patient", ""), []) if r["resourceType"] == kind]
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(resources),
            "entry": [
                {"fullUrl": f"{self.fhir_base}/{kind}/{r.get('id')}", "resource": r} for r in resources
            ],
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, ehr: Ehr) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ehr = ehr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(
        self, status: int, body: Any, content_type: str = "application/fhir+json", **headers: str
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        ehr = self.server.ehr
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query))
        ehr.requests.append(("GET", self.path, self.headers.get("Authorization")))
        if parts.path == "/fhir/.well-known/smart-configuration":
            self._send(
                200,
                {
                    "authorization_endpoint": f"{ehr.base}/auth/authorize",
                    "token_endpoint": f"{ehr.base}/auth/token",
                    "code_challenge_methods_supported": ["S256"],
                    "capabilities": ["launch-ehr", "client-public", "context-ehr-patient"],
                },
                "application/json",
            )
        elif parts.path == "/auth/authorize":
            self._authorize(params)
        elif parts.path.startswith("/fhir/"):
            self._read(parts.path.removeprefix("/fhir/"), params)
        else:
            self._send(404, {"resourceType": "OperationOutcome"})

    def _authorize(self, params: dict[str, str]) -> None:
        ehr = self.server.ehr
        patient = ehr.launches.get(params.get("launch", ""))
        problems = [
            name
            for name, ok in (
                ("response_type", params.get("response_type") == "code"),
                ("client_id", params.get("client_id") == ehr.client_id),
                ("aud", params.get("aud") == ehr.fhir_base),
                ("launch", patient is not None),
                ("code_challenge_method", params.get("code_challenge_method") == "S256"),
                ("code_challenge", bool(params.get("code_challenge"))),
                ("scope", "launch" in params.get("scope", "").split()),
            )
            if not ok
        ]
        redirect = params.get("redirect_uri", "")
        if problems or not redirect:
            self._send(
                400,
                {"error": "invalid_request", "error_description": ", ".join(problems)},
                "application/json",
            )
            return
        code = secrets.token_urlsafe(16)
        assert patient is not None
        ehr.codes[code] = {
            "challenge": params["code_challenge"],
            "redirect_uri": redirect,
            "patient": patient,
        }
        target = f"{redirect}?{urlencode({'code': code, 'state': params.get('state', '')})}"
        self._send(302, b"", "text/plain", Location=target)

    def _read(self, path: str, params: dict[str, str]) -> None:
        ehr = self.server.ehr
        if self.headers.get("Authorization") != f"Bearer {ehr.token}":
            self._send(
                401, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]}
            )
            return
        if ehr.misbehave == "status":
            self._send(ehr.fail_status, {"resourceType": "OperationOutcome"})
            return
        if ehr.misbehave == "not_json":
            self._send(200, b"<html>maintenance</html>", "text/html")
            return
        if ehr.misbehave in ("trickle", "endless"):
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            if ehr.misbehave == "trickle":
                self.send_header("Content-Length", "100000")
                self.end_headers()
                while not ehr.stopping.wait(0.5):
                    self.wfile.write(b" ")
                    self.wfile.flush()
            else:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b" " * 65536
                frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
                while not ehr.stopping.is_set():
                    self.wfile.write(frame)
            return
        kind, _, rest = path.partition("/")
        if kind == "Patient" and rest:
            found = [r for r in ehr.patients.get(rest, []) if r["resourceType"] == "Patient"]
            if found:
                self._send(200, found[0])
            else:
                self._send(
                    404,
                    {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "not-found"}],
                    },
                )
        elif kind in SEARCHABLE and not rest:
            self._send(200, ehr.search(kind, params))
        else:
            self._send(404, {"resourceType": "OperationOutcome"})

    def do_POST(self) -> None:
        ehr = self.server.ehr
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = dict(parse_qsl(body))
        ehr.requests.append(("POST", self.path, self.headers.get("Authorization")))
        if urlsplit(self.path).path != "/auth/token":
            self._send(404, {"error": "not_found"}, "application/json")
            return
        grant = ehr.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if (
            grant is None
            or form.get("grant_type") != "authorization_code"
            or form.get("client_id") != ehr.client_id
            or form.get("redirect_uri") != grant["redirect_uri"]
            or challenge != grant["challenge"]
        ):
            self._send(400, {"error": "invalid_grant"}, "application/json")
            return
        self._send(
            200,
            {
                "access_token": ehr.token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "launch patient/Patient.read patient/Condition.read",
                "patient": grant["patient"],
            },
            "application/json",
            Cache_Control="no-store",
        )


@contextmanager
def serve_ehr(patients: dict[str, list[dict[str, Any]]], **options: Any) -> Iterator[Ehr]:
    ehr = Ehr(patients, **options)
    httpd = _Server(ehr)
    host, port = httpd.server_address[:2]
    ehr.base = f"http://{host!s}:{port}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield ehr
    finally:
        ehr.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def hook_request(
    patient_id: str, *, prefetch: dict[str, Any] | None = None, ehr: Ehr | None = None
) -> dict[str, Any]:
    """A patient-view request: with ``prefetch`` (as the discovery document asks), or with
    the EHR's FHIR server and token to read from."""
    request: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": patient_id},
    }
    if prefetch is not None:
        request["prefetch"] = prefetch
    if ehr is not None:
        request["fhirServer"] = ehr.fhir_base
        request["fhirAuthorization"] = {
            "access_token": ehr.token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/Patient.read patient/Condition.read patient/Observation.read",
            "subject": "trialsite",
        }
    return request


def prefetch_for(resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A patient's resources as the prefetch of the discovery document's templates."""
    resources = list(resources)

    def searchset(*kinds: str) -> dict[str, Any]:
        found = [r for r in resources if r["resourceType"] in kinds]
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "entry": [{"resource": r} for r in found],
        }

    return {
        "patient": next(r for r in resources if r["resourceType"] == "Patient"),
        "conditions": searchset("Condition"),
        "observations": searchset("Observation"),
        "medications": searchset("MedicationRequest"),
    }


def running_ehr(patients: dict[str, list[dict[str, Any]]]) -> Iterator[Ehr]:
    """A module fixture's body: an EHR serving a copy of ``patients`` (tests may change theirs)."""
    with serve_ehr(copy.deepcopy(patients)) as running:
        yield running
