"""The HTTP service through its real ASGI app, on the bundled sample, on SQLite and PostgreSQL.

The JSON API must answer what the CLI's ``--json`` answers (one code path); errors are
RFC 9457 problems naming the field; FHIR shapes are validated with ``fhir.resources``;
a patient's details never reach the store or the access log.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.researchstudy import ResearchStudy
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from api.app import create_app
from api.fhir import bundle_to_patient
from cli import app as cli_app
from db.engine import open_store
from tests.conftest import empty_store
from tests.sample_store import SEED_PAGE_ID, load_sample, seed_patient

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sample_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with empty_store(request.param, tmp_path_factory.mktemp("api")) as url:
        load_sample(url)
        yield url


@pytest.fixture(scope="module")
def client(sample_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(sample_url)) as test_client:
        yield test_client


def seed_bundle(**changes: Any) -> dict[str, Any]:
    """The seed patient as a FHIR Bundle: female, born 34 years ago, Palencia ES, lupus
    nephritis, SLEDAI-2K 12."""
    today = date.today()
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "seed",
        "gender": "female",
        "birthDate": date(today.year - 34, 1, 1).isoformat(),
        "address": [{"city": "Palencia", "country": "ES"}],
    }
    patient.update(changes)
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": patient},
            {"resource": {"resourceType": "Condition", "id": "ln", "subject": {"reference": "Patient/seed"},
                          "code": {"text": "Lupus nephritis"}}},
            {"resource": {"resourceType": "Observation", "id": "sledai", "status": "final",
                          "code": {"text": "SLEDAI-2K"}, "subject": {"reference": "Patient/seed"},
                          "valueQuantity": {"value": 12}}},
        ],
    }  # fmt: skip


# -- the JSON API -------------------------------------------------------------------------


def test_the_seed_patient_gets_the_seed_trial_first_at_valladolid(client: TestClient) -> None:
    response = client.post("/api/v1/match", json=seed_patient())
    assert response.status_code == 200
    first = response.json()["matches"][0]
    assert first["nct_id"] == SEED_PAGE_ID
    site = first["nearest_site"]
    assert (site["facility"], site["city"], site["distance_km"]) == (
        "University Hospital Río Hortega",
        "Valladolid",
        42.7,
    )
    assert any(c["email"] == "jbarbadoa@saludcastillayleon.es" for c in site["contacts"])


def test_match_answers_what_the_cli_answers(client: TestClient, sample_url: str, tmp_path: Path) -> None:
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps(seed_patient()))
    cli = CliRunner().invoke(
        cli_app, ["--db", sample_url, "match", "--patient", str(patient), "--json", "--miles"]
    )
    assert cli.exit_code == 0, cli.output
    api = client.post("/api/v1/match", params={"miles": "true"}, json=seed_patient())
    assert api.json() == json.loads(cli.stdout)


def test_search_finds_the_seed_trial_and_agrees_with_the_cli(client: TestClient, sample_url: str) -> None:
    params: dict[str, str | int] = {
        "condition": "lupus nephritis",
        "near": "Palencia, Spain",
        "radius_km": 150,
    }
    api = client.get("/api/v1/search", params=params).json()
    assert [m["nct_id"] for m in api["matches"]] == [SEED_PAGE_ID]
    cli = CliRunner().invoke(
        cli_app,
        [
            "--db",
            sample_url,
            "search",
            "lupus nephritis",
            "--near",
            "Palencia, Spain",
            "--radius",
            "150",
            "--json",
            "--limit",
            "20",
        ],
    )
    assert api == json.loads(cli.stdout)


def test_search_pages_with_limit_and_offset(client: TestClient) -> None:
    everything = client.get("/api/v1/search", params={"condition": "cancer", "limit": 30}).json()["matches"]
    assert len(everything) > 6
    page = client.get("/api/v1/search", params={"condition": "cancer", "limit": 3, "offset": 3}).json()[
        "matches"
    ]
    assert [m["nct_id"] for m in page] == [m["nct_id"] for m in everything[3:6]]


@pytest.mark.parametrize("how", ["accept", "format"])
def test_search_as_csv_has_one_row_per_trial_and_nearest_site(client: TestClient, how: str) -> None:
    params: dict[str, Any] = {"condition": "lupus nephritis", "near": "Palencia, Spain", "radius_km": 150}
    headers = {}
    if how == "accept":
        headers["accept"] = "text/csv"
    else:
        params["format"] = "csv"
    response = client.get("/api/v1/search", params=params, headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1
    assert rows[0]["nct_id"] == SEED_PAGE_ID and rows[0]["site_city"] == "Valladolid"
    assert rows[0]["distance_km"] == "42.7" and rows[0]["contact_email"] == "jbarbadoa@saludcastillayleon.es"


def test_match_as_csv_is_what_the_cli_prints(client: TestClient, sample_url: str, tmp_path: Path) -> None:
    response = client.post("/api/v1/match", json=seed_patient(), headers={"accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows[0]["nct_id"] == SEED_PAGE_ID
    assert (rows[0]["criteria_met"], rows[0]["criteria_not_met"], rows[0]["criteria_to_check"]) == (
        "3",
        "0",
        "4",
    )
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps(seed_patient()))
    cli = CliRunner().invoke(cli_app, ["--db", sample_url, "match", "--patient", str(patient), "--csv"])
    assert cli.exit_code == 0 and cli.stdout.splitlines() == response.text.splitlines()


def test_a_trial_by_id_with_its_sites_ordered_from_a_place(client: TestClient) -> None:
    trial = client.get(f"/api/v1/trials/{SEED_PAGE_ID}", params={"near": "Palencia, Spain"}).json()
    assert trial["nct_id"] == SEED_PAGE_ID and trial["sites"][0]["distance_km"] == 42.7
    many = client.get("/api/v1/search", params={"condition": "cancer", "limit": 1}).json()["matches"][0][
        "nct_id"
    ]
    sites = client.get(f"/api/v1/trials/{many}", params={"near": "Boston, MA"}).json()["sites"]
    distances = [s["distance_km"] for s in sites if s["distance_km"] is not None]
    assert distances == sorted(distances)


def test_geocode_stats_changes_and_health(client: TestClient) -> None:
    place = client.get("/api/v1/geocode", params={"q": "47003 Spain"}).json()
    assert place["name"] == "Valladolid" and place["country_code"] == "ES"
    stats = client.get("/api/v1/stats").json()
    assert stats["trials"] == 241
    assert client.get("/api/v1/changes", params={"since": "2000-01-01"}).json() == []
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health.json()["last_sync"] is None  # the sample was loaded by ingest, never synced


def test_health_is_503_without_a_gazetteer(sample_url: str, tmp_path: Path) -> None:
    with TestClient(create_app(sample_url, gazetteer_path=tmp_path / "none.sqlite")) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["gazetteer"].startswith("missing at")


# -- errors -------------------------------------------------------------------------------


def assert_problem(response: Any, status: int, mentions: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and mentions in body["detail"], body
    return body


@pytest.mark.parametrize(
    ("patient", "field", "detail"),
    [
        ({"age": "abc"}, "age", "age: expected a number of years, got 'abc'"),
        ({"age": True}, "age", "age: expected a number, got true"),
        ({"sex": "unknown"}, "sex", "sex: expected 'female' or 'male'"),
        ({"measurements": [{"name": "eGFR", "value": "high"}]}, "measurements[0].value", "expected a number"),
        ({"radius_km": -5}, "radius_km", "radius_km: Input should be greater than 0"),
        ({"colour": "blue"}, "colour", "colour: not a patient field"),
        ({"location": "Vallladolid, Spain"}, "location", "did you mean: Valladolid (ES)"),
    ],
)
def test_a_bad_patient_is_a_422_naming_the_field(
    client: TestClient, patient: dict[str, Any], field: str, detail: str
) -> None:
    body = assert_problem(client.post("/api/v1/match", json=patient), 422, detail)
    assert body["field"] == field


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'"a string"'])
def test_a_malformed_body_is_a_4xx(client: TestClient, body: bytes) -> None:
    response = client.post("/api/v1/match", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422) and response.headers["content-type"].startswith(PROBLEM)


def test_an_unknown_trial_is_a_404(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/trials/NCT99999999"), 404, "NCT99999999")
    assert_problem(client.get("/api/v1/nowhere"), 404, "Not Found")


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"condition": "x", "radius_km": "abc"}, "radius_km: expected a number, got 'abc'"),
        ({"condition": "x", "status": "DONE"}, "status: expected one of RECRUITING"),
        ({"condition": "x", "phase": "2"}, "phase: expected one of"),
        ({"condition": "x", "status": ""}, "status: expected a value, got an empty one"),
        ({"condition": "x", "age": "-1"}, "age:"),
        ({"condition": "x", "limit": "0"}, "limit:"),
        ({"condition": "   "}, "condition: expected a condition"),
        ({"near": "Palencia"}, "condition: required"),
    ],
)
def test_bad_search_parameters_are_422_naming_them(
    client: TestClient, params: dict[str, str], detail: str
) -> None:
    assert_problem(client.get("/api/v1/search", params=params), 422, detail)


def test_a_body_over_one_megabyte_is_413(client: TestClient) -> None:
    big = {"age": 34, "conditions": ["x" * 100] * 11_000}
    assert_problem(client.post("/api/v1/match", json=big), 413, "at most 1,000,000 bytes")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        yield b'{"conditions": ["'
        for _ in range(1100):
            yield b"x" * 1000
        yield b'"]}'

    assert_problem(client.post("/api/v1/match", content=chunks()), 413, "at most")


# -- FHIR ---------------------------------------------------------------------------------


def test_get_clinical_trial_answers_a_searchset_with_the_seed_trial_first(client: TestClient) -> None:
    response = client.post("/getClinicalTrial", json={"patientData": seed_bundle()})
    assert response.status_code == 200, response.text
    bundle = Bundle.model_validate(response.json())
    assert bundle.type == "searchset" and bundle.entry
    first = bundle.entry[0]
    assert first.search is not None and first.search.score == 1
    study = ResearchStudy.model_validate(first.resource.model_dump() if first.resource else {})
    assert study.identifier and study.identifier[0].value == SEED_PAGE_ID
    assert study.status == "active" and study.title and "Lupus Nephritis" in study.title
    assert study.contained and study.site
    location = study.contained[0].model_dump()
    assert location["resourceType"] == "Location" and location["address"]["city"] == "Valladolid"
    assert location["name"] == "University Hospital Río Hortega"
    assert location["position"]["latitude"] == pytest.approx(41.655, abs=0.01)
    assert location["extension"][0]["valueQuantity"]["value"] == 42.7
    assert study.site[0].reference == f"#{location['id']}"
    assert study.note and "42.7 km" in str(study.note[0].text)


def test_a_bundle_with_codes_only_is_read_through_the_vocabulary() -> None:
    bundle = seed_bundle()
    bundle["entry"][1]["resource"]["code"] = {
        "coding": [{"system": "http://snomed.info/sct", "code": "68815009"}]
    }
    bundle["entry"][2]["resource"]["code"] = {"coding": [{"system": "http://loinc.org", "code": "62238-1"}]}
    bundle["entry"][2]["resource"]["valueQuantity"] = {"value": 55, "unit": "mL/min/1.73m2"}
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "Condition",
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]},
            }
        }
    )
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "82810-3"}]},
                "valueCodeableConcept": {
                    "coding": [{"system": "http://snomed.info/sct", "code": "60001007"}]
                },
            }
        }
    )
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "MedicationStatement",
                "status": "active",
                "medicationCodeableConcept": {"text": "mycophenolate"},
                "effectivePeriod": {"start": "2026-08-20"},
                "subject": {"reference": "Patient/seed"},
            }
        }
    )
    patient = bundle_to_patient(bundle)
    assert patient["conditions"] == ["lupus nephritis", "type 2 diabetes mellitus"]
    assert patient["measurements"] == [{"name": "eGFR", "value": 55, "unit": "mL/min/1.73m2"}]
    assert (
        patient["pregnant"] is False and patient["sex"] == "female" and patient["location"] == "Palencia, ES"
    )
    assert patient["treatments"] == [{"name": "mycophenolate", "start": "2026-08-20", "current": True}]


def test_a_bundle_says_what_she_does_not_have_and_what_her_relatives_have() -> None:
    """A refuted Condition is an absent condition; FamilyMemberHistory is never hers; a MeSH
    descriptor id is read through the vocabulary."""
    bundle = seed_bundle()
    bundle["entry"][1]["resource"]["code"] = {
        "coding": [{"system": "http://id.nlm.nih.gov/mesh", "code": "D008181"}]
    }
    bundle["entry"] += [
        {
            "resource": {
                "resourceType": "Condition",
                "verificationStatus": {"coding": [{"code": "refuted"}]},
                "code": {"text": "diabetes mellitus"},
            }
        },
        {
            "resource": {
                "resourceType": "FamilyMemberHistory",
                "relationship": {"text": "mother"},
                "condition": [{"code": {"text": "rheumatoid arthritis"}}],
            }
        },
    ]
    patient = bundle_to_patient(bundle)
    assert patient["conditions"] == ["Lupus Nephritis"]
    assert patient["absent_conditions"] == ["diabetes mellitus"]
    assert patient["family_history"] == ["rheumatoid arthritis"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"patientData": {"resourceType": "Patient"}}, "expected a FHIR Bundle"),
        ({"patientData": {"resourceType": "Bundle", "type": "collection"}}, "patientData.entry"),
        ({"patientData": seed_bundle() | {"entry": seed_bundle()["entry"][1:]}}, "no Patient"),
        ({"patientData": seed_bundle() | {"entry": seed_bundle()["entry"][:1]}}, "no Condition"),
        ({"bundle": {}}, "patientData"),
        ({"patientData": seed_bundle(), "radius_km": "far"}, "radius_km"),
        (
            {"patientData": seed_bundle(address=[{"city": "Vallladolid", "country": "ES"}])},
            "location: no place found",
        ),
    ],
)
def test_a_bundle_it_cannot_use_is_an_operation_outcome(
    client: TestClient, body: dict[str, Any], says: str
) -> None:
    response = client.post("/getClinicalTrial", json=body)
    assert response.status_code == 400
    outcome = OperationOutcome.model_validate(response.json())
    assert says in (outcome.issue[0].diagnostics or "")


def test_a_stored_trial_as_a_research_study(client: TestClient) -> None:
    study = ResearchStudy.model_validate(client.get(f"/fhir/ResearchStudy/{SEED_PAGE_ID}").json())
    assert study.condition and study.condition[0].text == "lupus nephritis"
    assert study.identifier and study.identifier[0].system == "urn:trialsite:trial-page-id"
    missing = client.get("/fhir/ResearchStudy/NCT99999999")
    assert (
        missing.status_code == 404
        and OperationOutcome.model_validate(missing.json()).issue[0].code == "not-found"
    )


# -- pages and privacy --------------------------------------------------------------------


def test_the_shared_search_url_shows_the_seed_trial(client: TestClient) -> None:
    page = client.get("/?condition=lupus+nephritis&near=Palencia%2C+Spain&radius_km=150")
    assert page.status_code == 200
    assert "University Hospital Río Hortega" in page.text and "42.7 km" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    nothing = client.get("/?condition=zzyzx+syndrome&near=Palencia%2C+Spain")
    assert (
        "No results: no trial in the store mentions zzyzx syndrome: try a broader or other name"
        in nothing.text
    )
    unknown = client.get("/?condition=lupus&near=Vallladolid")
    assert unknown.status_code == 422 and "Did you mean" in unknown.text and "near=Valladolid" in unknown.text


def test_the_match_form_shows_verdicts_and_a_referral_summary(client: TestClient) -> None:
    form = {"age": "34", "sex": "female", "location": "Palencia, Spain", "radius_km": "100",
            "conditions": "lupus nephritis", "measurement_name": ["SLEDAI-2K", ""], "measurement_value": ["12", ""],
            "measurement_unit": ["", ""]}  # fmt: skip
    page = client.post("/match", data=form)
    assert page.status_code == 200
    assert "Río Hortega" in page.text and "42.7 km" in page.text and "4 to check" in page.text
    summary = client.post("/match/summary", data={**form, "nct_id": SEED_PAGE_ID})
    assert summary.status_code == 200 and "Referral summary" in summary.text
    assert "jbarbadoa@saludcastillayleon.es" in summary.text and "to check at screening" in summary.text
    bad = client.post("/match", data={**form, "age": "abc"})
    assert bad.status_code == 422 and "age: expected a number of years, got &#39;abc&#39;" in bad.text


def test_a_trial_page_marks_parsed_rules_and_orders_sites(client: TestClient) -> None:
    page = client.get(f"/trials/{SEED_PAGE_ID}", params={"near": "Palencia, Spain"})
    assert page.status_code == 200 and "<mark>" in page.text and "42.7 km" in page.text
    assert client.get("/trials/NCT99999999").status_code == 404


def test_docs_describe_every_operation_without_off_site_assets(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    docs = client.get("/docs").text
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            assert op.get("summary"), (method, path)
            assert f"{method.upper()} {path}" in docs
    assert document["components"]["schemas"]["Patient"]["properties"]["age"]
    match_body = document["paths"]["/api/v1/match"]["post"]["requestBody"]["content"]["application/json"]
    assert match_body["example"] == seed_patient()
    assert "http" not in "".join(
        line for line in docs.splitlines() if "<script" in line or "stylesheet" in line
    )


def test_patient_details_reach_neither_the_store_nor_the_log(
    client: TestClient, sample_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = open_store(sample_url)
    try:

        def counts() -> dict[str, int]:
            with engine.connect() as conn:
                return {
                    t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()
                    for t in inspect(conn).get_table_names()
                }

        before = counts()
        with caplog.at_level(logging.DEBUG):
            client.post(
                "/api/v1/match", json=seed_patient() | {"conditions": ["lupus nephritis", "Zebrafish-7"]}
            )
            client.post("/match", data={"location": "Palencia, Spain", "conditions": "Zebrafish-7"})
            client.get("/?condition=Zebrafish-7&near=Palencia")
        assert counts() == before
    finally:
        engine.dispose()
    server = [r for r in caplog.records if not r.name.startswith("httpx")]  # the test client's own log
    assert server, "the access log wrote nothing"
    logged = "\n".join(r.getMessage() for r in server)
    assert "POST /api/v1/match 200" in logged
    assert "Zebrafish" not in logged and "Palencia" not in logged


SEED_LETTER = (Path(__file__).resolve().parent.parent / "sample" / "referral.txt").read_text(encoding="utf-8")


def test_a_referral_letter_is_read_for_review_never_matched(client: TestClient) -> None:
    """POST /api/v1/referral/parse answers what `trialsite referral parse --json` does, from
    text/plain or JSON; /match/letter fills the form and shows the evidence without matching."""
    from typer.testing import CliRunner

    from cli import app

    plain = client.post(
        "/api/v1/referral/parse", content=SEED_LETTER.encode(), headers={"content-type": "text/plain"}
    )
    assert plain.status_code == 200, plain.text
    parsed = plain.json()
    cli = CliRunner().invoke(app, ["referral", "parse", "-", "--json"], input=SEED_LETTER)
    assert parsed == json.loads(cli.stdout)
    assert parsed["patient"]["age"] == 34 and parsed["patient"]["sex"] == "female"
    assert "Lupus Nephritis" in parsed["patient"]["conditions"]
    assert any(e["field"] == "location" and "Palencia" in e["text"] for e in parsed["evidence"])
    as_json = client.post("/api/v1/referral/parse", json={"text": SEED_LETTER})
    assert as_json.json() == parsed
    assert_problem(
        client.post("/api/v1/referral/parse", content=b"  ", headers={"content-type": "text/plain"}),
        422,
        "body",
    )
    assert_problem(client.post("/api/v1/referral/parse", json={"letter": "x"}), 422, "body")
    long = client.post(
        "/api/v1/referral/parse", content=b"a" * 300_000, headers={"content-type": "text/plain"}
    )
    assert_problem(long, 422, "body")

    page = client.post("/match/letter", data={"letter": SEED_LETTER})
    assert page.status_code == 200
    html = page.text
    assert 'id="age" name="age" value="34"' in html and 'value="Palencia, Spain"' in html
    assert "lupus nephritis" in html and "Read from the letter" in html
    assert 'id="results"' not in html and SEED_PAGE_ID not in html  # nothing matched yet


def test_the_trial_page_and_show_mark_items_that_are_not_clinical(
    client: TestClient, sample_url: str
) -> None:
    """An exclusion list of "None" states no criterion; consent and compliance are administrative."""
    page = client.get("/trials/NCT05923112").text
    assert "(empty: states no criterion)" in page
    shown = CliRunner().invoke(cli_app, ["--db", sample_url, "show", "NCT05923112"]).stdout
    assert "[exclusion] None  (empty: states no criterion)" in shown
    parsed = (
        CliRunner()
        .invoke(
            cli_app,
            ["criteria", "parse", "-"],
            input="Inclusion Criteria:\n* Signed informed consent\n* eGFR >= 30\n",
        )
        .stdout
    )
    assert "Signed informed consent  (administrative: confirm at screening)" in parsed
    assert "eGFR >= 30  (" not in parsed
