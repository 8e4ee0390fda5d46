"""CDS Hooks 2.0 through the real app on the bundled sample, on SQLite and PostgreSQL, reading
from a loopback FHIR server (``tests/ehr_server.py``) serving recorded patients.

The seed patient (Palencia, lupus nephritis, SLEDAI-2K 12) gets one card naming the seed
trial at University Hospital Río Hortega, 42.7 km — from prefetch, and from the FHIR server
with the token sent as a Bearer; a patient with no trial near her gets no card; what the
service answers validates against the specification's shapes (``tests/cds_hooks_shapes.py``),
the specification's own examples included.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.ehr_settings import EhrSettings
from tests import cds_hooks_shapes as shapes
from tests.conftest import empty_store
from tests.ehr_server import (
    MCODE,
    MCODE_NO_ADDRESS,
    SEED,
    SEED_ID,
    SEED_VALUES,
    SPEC,
    Ehr,
    hook_request,
    load_patients,
    prefetch_for,
    running_ehr,
)
from tests.live_server import free_port
from tests.sample_store import SEED_PAGE_ID, load_sample

SERVICE = "/cds-services/trialsite-nearby-trials"
PUBLIC = "https://trials.example.org"
PATIENTS = load_patients(SEED, MCODE, MCODE_NO_ADDRESS)
MCODE_ID = "1e208b6b-77f1-4808-a32b-9f9caf1ec334"


@pytest.fixture(scope="module")
def ehr() -> Iterator[Ehr]:
    yield from running_ehr(PATIENTS)


@pytest.fixture(scope="module")
def broken() -> Iterator[Ehr]:
    """An EHR whose FHIR reads fail as ``misbehave`` says (set by each test)."""
    yield from running_ehr(PATIENTS)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sample_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with empty_store(request.param, tmp_path_factory.mktemp("cds")) as url:
        load_sample(url)
        yield url


def settings_for(ehr: Ehr, *others: str, **changes: Any) -> EhrSettings:
    return EhrSettings(
        **{"public_url": PUBLIC, "fhir_servers": (ehr.fhir_base, *others), "fhir_timeout_s": 2.0, **changes}
    )


@pytest.fixture(scope="module")
def client(sample_url: str, ehr: Ehr, broken: Ehr) -> Iterator[TestClient]:
    allowed = (broken.fhir_base, f"http://127.0.0.1:{free_port()}/fhir")  # the second: nobody listens
    with TestClient(create_app(sample_url, ehr_settings=settings_for(ehr, *allowed))) as test_client:
        yield test_client


def seed_prefetch() -> dict[str, Any]:
    return prefetch_for(copy.deepcopy(PATIENTS[SEED_ID]))


def the_card(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = shapes.Response.model_validate(response.json())
    assert len(body.cards) == 1
    card: dict[str, Any] = response.json()["cards"][0]
    return card


def test_discovery_offers_the_patient_view_service_with_its_prefetch(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    document = shapes.Discovery.model_validate(response.json())
    (service,) = document.services
    assert (service.hook, service.id) == ("patient-view", "trialsite-nearby-trials")
    assert service.prefetch is not None
    assert service.prefetch["patient"] == "Patient/{{context.patientId}}"
    assert service.prefetch["conditions"].startswith(
        "Condition?patient={{context.patientId}}&clinical-status=active"
    )
    assert "category=laboratory" in service.prefetch["observations"]
    assert service.prefetch["medications"] == "MedicationRequest?patient={{context.patientId}}&status=active"


def test_the_shapes_accept_the_specifications_examples_and_refuse_broken_ones() -> None:
    shapes.Discovery.model_validate_json((SPEC / "discovery-response.json").read_text())
    shapes.Response.model_validate_json((SPEC / "response-cards.json").read_text())
    # The specification's autolaunchable example leaves out the card's required indicator.
    with pytest.raises(ValueError, match="indicator"):
        shapes.Response.model_validate_json((SPEC / "response-autolaunchable.json").read_text())
    card = {"summary": "x", "indicator": "info", "source": {"label": "trialsite"}}
    shapes.Card.model_validate(card)
    for broken in (
        {**card, "indicator": "hint"},
        {**card, "summary": "x" * 140},
        {**card, "detail": None},
        {**card, "links": [{"label": "a", "url": "https://a", "type": "absolute", "appContext": "x"}]},
        {key: value for key, value in card.items() if key != "source"},
    ):
        with pytest.raises(ValueError):
            shapes.Card.model_validate(broken)


def test_the_seed_patient_by_prefetch_gets_one_card_naming_the_seed_trial(client: TestClient) -> None:
    card = the_card(client.post(SERVICE, json=hook_request(SEED_ID, prefetch=seed_prefetch())))
    assert card["summary"] == "1 recruiting trial within 100 km: lupus nephritis"
    assert card["indicator"] == "info"
    assert card["source"] == {"label": "trialsite", "url": PUBLIC}
    detail = card["detail"]
    assert "Mesenchymal Stem Cells (MSV-allo)" in detail and f"({SEED_PAGE_ID}, recruiting)" in detail
    assert "Nearest open site: University Hospital Río Hortega, Valladolid, Spain — 42.7 km" in detail
    assert "Contact: Julia Barbado, MD, PhD, +34 983 420400" in detail
    assert "Still to check (4): biopsy within the past 6 months" in detail
    (link,) = card["links"]  # no SMART link: the request named no FHIR server trialsite reads
    assert link["type"] == "absolute" and link["url"].startswith(f"{PUBLIC}/handoff/")
    assert link["label"] == "Review it in trialsite"


def test_the_same_request_without_prefetch_reads_the_fhir_server_with_the_bearer_token(
    client: TestClient, ehr: Ehr
) -> None:
    by_prefetch = the_card(client.post(SERVICE, json=hook_request(SEED_ID, prefetch=seed_prefetch())))
    ehr.requests.clear()
    by_server = the_card(client.post(SERVICE, json=hook_request(SEED_ID, ehr=ehr)))
    assert by_server["summary"] == by_prefetch["summary"]
    assert by_server["detail"] == by_prefetch["detail"]
    reads = ehr.reads()
    assert [urlsplit(path).path for path, _ in reads] == [
        f"/fhir/Patient/{SEED_ID}",
        "/fhir/Condition",
        "/fhir/Observation",
        "/fhir/MedicationRequest",
    ]
    assert all(authorization == f"Bearer {ehr.token}" for _, authorization in reads)
    assert by_server["links"][1] == {  # the EHR is one trialsite reads: it can launch trialsite
        "label": "Open trialsite with this record (SMART)",
        "url": f"{PUBLIC}/launch",
        "type": "smart",
        "appContext": "trialsite-nearby-trials",
    }


def test_only_what_prefetch_lacks_is_read(client: TestClient, ehr: Ehr) -> None:
    prefetch = seed_prefetch()
    del prefetch["medications"]
    ehr.requests.clear()
    card = the_card(client.post(SERVICE, json=hook_request(SEED_ID, prefetch=prefetch, ehr=ehr)))
    assert "Río Hortega" in card["detail"]
    assert [urlsplit(path).path for path, _ in ehr.reads()] == ["/fhir/MedicationRequest"]


@pytest.mark.parametrize("path", [MCODE, MCODE_NO_ADDRESS], ids=["no-trial-near-her", "no-address"])
def test_a_patient_with_no_trial_near_her_gets_no_card(client: TestClient, ehr: Ehr, path: Any) -> None:
    (patient_id,) = load_patients(path)
    by_prefetch = client.post(
        SERVICE, json=hook_request(patient_id, prefetch=prefetch_for(PATIENTS[patient_id]))
    )
    assert by_prefetch.status_code == 200 and by_prefetch.json() == {"cards": []}
    by_server = client.post(SERVICE, json=hook_request(patient_id, ehr=ehr))
    assert by_server.status_code == 200 and by_server.json() == {"cards": []}


def test_the_handoff_link_opens_the_match_page_once(client: TestClient) -> None:
    card = the_card(client.post(SERVICE, json=hook_request(SEED_ID, prefetch=seed_prefetch())))
    url = card["links"][0]["url"]
    key = urlsplit(url).path.rsplit("/", 1)[-1]
    assert len(key) >= 43  # 256 random bits
    for value in (*SEED_VALUES, "SLEDAI"):
        assert value not in url
    page = client.get(urlsplit(url).path)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    html = page.text
    assert "From the patient's record" in html and "from the record</span>" in html
    assert 'value="Palencia, ES"' in html and 'value="1992-03-14"' in html
    assert "University Hospital Río Hortega" in html and "42.7 km" in html
    assert "Ejemplo" not in html and "MRN-0034-PAL" not in html  # read, never shown: not needed
    again = client.get(urlsplit(url).path)
    assert again.status_code == 404 and "expired" in again.text
    assert client.get("/handoff/" + "A" * 43).status_code == 404


def test_a_handoff_expires(sample_url: str, ehr: Ehr) -> None:
    app = create_app(sample_url, ehr_settings=settings_for(ehr, handoff_ttl_s=0.000001))
    with TestClient(app) as short:
        card = the_card(short.post(SERVICE, json=hook_request(SEED_ID, prefetch=seed_prefetch())))
        assert short.get(urlsplit(card["links"][0]["url"]).path).status_code == 404


def test_the_specifications_example_request_is_answered(client: TestClient, ehr: Ehr) -> None:
    example = json.loads((SPEC / "request-patient-view.json").read_text())
    # Its fhirServer is not one trialsite may read: refused before any request is sent to it.
    refused = client.post(SERVICE, json=example)
    assert refused.status_code == 400 and "fhirServer" in refused.json()["detail"]
    # The same request pointed at the loopback EHR: the Patient prefetched (a man born in
    # 1925 the EHR does not hold), the rest read from the server: nothing to match, no card.
    example["fhirServer"] = ehr.fhir_base
    example["fhirAuthorization"]["access_token"] = ehr.token
    answered = client.post(SERVICE, json=example)
    assert answered.status_code == 200 and answered.json() == {"cards": []}
    without_patient = client.post(
        SERVICE, json=json.loads((SPEC / "request-with-extension.json").read_text())
    )
    assert without_patient.status_code == 400 and "context.patientId" in without_patient.json()["detail"]


def test_feedback_is_counted(client: TestClient) -> None:
    before = client.get("/healthz").json()["cds_hooks"]
    for name in ("feedback-accepted.json", "feedback-overridden.json", "feedback-overridden-reason.json"):
        response = client.post(f"{SERVICE}/feedback", content=(SPEC / name).read_bytes())
        assert response.status_code == 200 and response.json() == {}
    after = client.get("/healthz").json()["cds_hooks"]
    assert after["feedback_accepted"] - before["feedback_accepted"] == 1
    assert after["feedback_overridden"] - before["feedback_overridden"] == 2


def _seed(**changes: Any) -> dict[str, Any]:
    request = hook_request(SEED_ID, prefetch=seed_prefetch())
    for path, value in changes.items():
        target = request
        *parents, last = path.split(".")
        for name in parents:
            target = target[name]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return request


MALFORMED = [
    (b"{", "body"),
    (b"[]", "body"),
    (_seed(hook="order-sign"), "hook"),
    (_seed(hookInstance=...), "hookInstance"),
    (_seed(context=...), "context"),
    (_seed(**{"context.patientId": "../../Patient/x"}), "context.patientId"),
    (_seed(**{"context.patientId": 7}), "context.patientId"),
    (_seed(prefetch=[]), "prefetch"),
    (_seed(**{"prefetch.patient": "Patient/1"}), "prefetch.patient"),
    (_seed(**{"prefetch.patient.address": 1}), "prefetch.patient.address"),
    (_seed(**{"prefetch.patient.birthDate": "03/14/1992"}), "prefetch.patient.birthDate"),
    (_seed(**{"prefetch.conditions.entry": [{"resource": {"resourceType": "Condition", "code": "LN"}}]}), "prefetch.conditions.entry[0].resource.code"),
    (_seed(fhirAuthorization={"access_token": "t", "token_type": "Bearer"}), "fhirServer"),
    (_seed(fhirServer="file:///etc/passwd"), "fhirServer"),
    (_seed(fhirServer="http://127.0.0.1:1", fhirAuthorization={"access_token": "t", "token_type": "MAC"}), "fhirAuthorization.token_type"),
    (_seed(fhirServer="http://127.0.0.1:1", fhirAuthorization={"access_token": ["t"]}), "fhirAuthorization.access_token"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field"), MALFORMED)
def test_a_malformed_request_is_a_400_naming_the_field(client: TestClient, body: Any, field: str) -> None:
    response = (
        client.post(SERVICE, content=body, headers={"content-type": "application/json"})
        if isinstance(body, bytes)
        else client.post(SERVICE, json=body)
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith(field), response.json()["detail"]


def test_other_failures_are_4xx(client: TestClient) -> None:
    assert client.post("/cds-services/other", json=_seed()).status_code == 404
    no_patient = _seed()
    del no_patient["prefetch"]["patient"]
    assert client.post(SERVICE, json=no_patient).status_code == 412
    assert (
        client.post(
            f"{SERVICE}/feedback", json={"feedback": [{"card": "x", "outcome": "ignored"}]}
        ).status_code
        == 400
    )
    assert client.post(f"{SERVICE}/feedback", content=b"{").status_code == 400


def test_a_server_not_allowed_is_refused_before_any_request(client: TestClient, ehr: Ehr) -> None:
    ehr.requests.clear()
    request = hook_request(SEED_ID, ehr=ehr)
    request["fhirServer"] = ehr.base + "/other-fhir"
    response = client.post(SERVICE, json=request)
    assert response.status_code == 400 and response.json()["title"] == "FHIR server not allowed"
    assert ehr.requests == []


def test_cors_is_answered_to_the_allowed_origin_only(sample_url: str, ehr: Ehr) -> None:
    app = create_app(sample_url, ehr_settings=settings_for(ehr, ehr_origins=("https://ehr.example.org",)))
    with TestClient(app) as cors:
        preflight = cors.options(
            SERVICE,
            headers={"Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "https://ehr.example.org"
        other = cors.get("/cds-services", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        allowed = cors.get("/cds-services", headers={"Origin": "https://ehr.example.org"})
        assert allowed.headers["access-control-allow-origin"] == "https://ehr.example.org"
        page = cors.get("/", headers={"Origin": "https://ehr.example.org"})
        assert "access-control-allow-origin" not in page.headers


@pytest.mark.parametrize(
    ("misbehave", "status"),
    [("status", 500), ("status", 503), ("status", 404), ("token", 401), ("not_json", 200), ("trickle", 200),
     ("endless", 200), ("down", 0)],
)  # fmt: skip
def test_a_record_that_cannot_be_read_is_no_card_and_a_counted_error(
    client: TestClient, broken: Ehr, misbehave: str, status: int
) -> None:
    broken.misbehave, broken.fail_status = misbehave, status
    request = hook_request(SEED_ID, ehr=broken)
    if misbehave == "token":
        request["fhirAuthorization"]["access_token"] = "expired-token"
    if misbehave == "down":
        allowed = client.app.state.ehr_settings.fhir_servers  # type: ignore[attr-defined]
        request["fhirServer"] = allowed[-1]
    before = client.get("/healthz").json()["cds_hooks"]["record_errors"]
    response = client.post(SERVICE, json=request)
    assert response.status_code == 200 and response.json() == {"cards": []}
    assert client.get("/healthz").json()["cds_hooks"]["record_errors"] == before + 1
