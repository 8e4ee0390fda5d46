"""SMART App Launch, EHR launch (hl7.org/fhir/smart-app-launch), through ``fhirclient``.

``/launch?iss=…&launch=…`` → the EHR's ``.well-known/smart-configuration`` → its
authorization endpoint (authorization code with PKCE S256; ``fhirclient`` builds the request
and keeps the verifier) → ``/launch/callback?code=…&state=…`` → the token (``fhirclient``
exchanges the code with the verifier) → the Patient, Conditions, Observations and
MedicationRequests read with it (:mod:`api.ehr_record`) → the ``/match`` form filled for
the clinician's review.

Between the two requests the launch's OAuth state (endpoints, PKCE verifier, the EHR's
opaque launch id; no patient data) is held by the handoff store under the OAuth ``state``
value, taken once, and bound to the browser by a cookie. After the callback the token and
the record are used for the page and forgotten.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from fhirclient.client import FHIRClient

from api.ehr_record import BoundedSession, RecordError, read_record
from api.ehr_settings import EhrSettings, base_url
from api.handoff import HandoffStore, new_key

CONFIGURATION = ".well-known/smart-configuration"
OAUTH_ERRORS = frozenset(
    {"invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type", "invalid_scope",
     "server_error", "temporarily_unavailable"}
)  # fmt: skip


class LaunchError(Exception):
    """A launch that cannot go on; the message is for the clinician (no patient value)."""


@dataclass(frozen=True)
class Started:
    authorize_url: str
    cookie: str  # binds the callback to the browser that launched


@dataclass(frozen=True)
class Record:
    fhir_server: str
    patient_id: str
    resources: list[dict[str, Any]]


def session_for(settings: EhrSettings) -> BoundedSession:
    return BoundedSession(
        settings.allows_request, timeout_s=settings.fhir_timeout_s, max_bytes=settings.fhir_max_bytes
    )


def fetch_configuration(session: BoundedSession, iss: str) -> dict[str, Any]:
    """The EHR's SMART configuration: its authorization and token endpoints."""
    url = f"{iss.rstrip('/')}/{CONFIGURATION}"
    try:
        response = session.get(url, headers={"Accept": "application/json"})
    except RecordError as exc:
        raise LaunchError(f"the EHR's SMART configuration could not be read: {exc}") from None
    if response.status_code != 200:
        raise LaunchError(f"the EHR's SMART configuration answered {response.status_code}")
    try:
        document = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise LaunchError("the EHR's SMART configuration is not JSON") from None
    if not isinstance(document, dict):
        raise LaunchError("the EHR's SMART configuration is not a JSON object")
    for key in ("authorization_endpoint", "token_endpoint"):
        value = document.get(key)
        if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
            raise LaunchError(f"the EHR's SMART configuration has no http(s) {key}")
    methods = document.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise LaunchError("the EHR's authorization server does not offer PKCE with S256")
    return document


def start_launch(
    settings: EhrSettings, store: HandoffStore, *, iss: str, launch: str, redirect_uri: str
) -> Started:
    """Check the launch, read the EHR's configuration, and the authorization URL to send the
    browser to (PKCE S256 and the launch id in it)."""
    if not settings.allows_fhir_server(iss):
        raise LaunchError(
            "iss: this FHIR server is not one trialsite is set up to read (TRIALSITE_FHIR_SERVERS)"
        )
    if not launch or len(launch) > 2048 or not launch.isprintable():
        raise LaunchError("launch: expected the EHR's launch id")
    session = session_for(settings)
    configuration = fetch_configuration(session, iss)
    token_endpoint = configuration["token_endpoint"]
    if not settings.allows_request(token_endpoint):
        raise LaunchError("the EHR's token endpoint is not on an allowed FHIR server's host")
    key = new_key()
    saved: dict[str, Any] = {}
    client = FHIRClient(
        state={
            "app_id": settings.smart_client_id,
            "scope": settings.smart_scope,
            "redirect": redirect_uri,
            "launch_token": launch,
            "server": {
                "base_uri": base_url(iss),
                "auth_type": "oauth2",
                "auth": {
                    "app_id": settings.smart_client_id,
                    "aud": base_url(iss),
                    "authorize_uri": configuration["authorization_endpoint"],
                    "token_uri": token_endpoint,
                    "redirect_uri": redirect_uri,
                    "auth_state": key,
                },
            },
        },
        save_func=saved.update,
    )
    authorize_url = str(client.authorize_url)  # PKCE: the verifier is generated and saved here
    cookie = secrets.token_urlsafe(24)
    store.put({"smart": client.state, "cookie": cookie, "iss": base_url(iss)}, key)
    return Started(authorize_url, cookie)


def finish_launch(
    settings: EhrSettings, store: HandoffStore, *, query: dict[str, str], cookie: str | None
) -> Record:
    """Exchange the code for a token (fhirclient, with the PKCE verifier) and read the record."""
    error = query.get("error")
    if error:
        said = error if error in OAUTH_ERRORS else "an error"
        raise LaunchError(
            f"the EHR's authorization server answered {said}: open trialsite from the record again"
        )
    state = query.get("state") or ""
    saved = store.take(state) if 0 < len(state) <= 200 else None
    if saved is None:
        raise LaunchError("this launch has expired or was already used: open trialsite from the record again")
    if not cookie or not secrets.compare_digest(cookie, str(saved.get("cookie"))):
        raise LaunchError("this launch was started in another browser: open trialsite from the record again")
    session = session_for(settings)
    client = FHIRClient(state=saved["smart"], save_func=lambda _state: None)
    client.server.session = session
    query_string = urlencode({"code": query.get("code", ""), "state": state})
    try:
        client.handle_callback(f"{client.redirect}?{query_string}")
    except RecordError as exc:
        raise LaunchError(f"the token could not be obtained: {exc}") from None
    except Exception:  # fhirclient raises bare Exceptions (their messages hold the state and code)
        raise LaunchError("the EHR's authorization server did not give a token for this launch") from None
    patient_id = client.patient_id
    if not isinstance(patient_id, str):
        raise LaunchError("the EHR gave no patient with the token: launch trialsite from a patient's record")
    token = client.server.auth.access_token
    try:
        resources = read_record(session, saved["iss"], patient_id, token)
    except RecordError as exc:
        raise LaunchError(f"the record could not be read: {exc}") from None
    except ValueError:
        raise LaunchError("the EHR gave a patient id that is not a FHIR id") from None
    return Record(saved["iss"], patient_id, resources)
