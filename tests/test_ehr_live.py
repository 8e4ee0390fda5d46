"""The EHR integrations against ``trialsite serve`` as a process with two workers, on a real
socket, and a loopback EHR (``tests/ehr_server.py``): the SMART launch end to end (PKCE
checked by the EHR's authorization server), card links that open on either worker, and a
server log that holds no patient value and no token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.ehr_server import (
    MCODE,
    SEED,
    SEED_ID,
    SEED_VALUES,
    Ehr,
    hook_request,
    load_patients,
    prefetch_for,
    running_ehr,
)
from tests.live_server import LiveServer, live_server
from tests.sample_store import load_sample

SERVICE = "/cds-services/trialsite-nearby-trials"
PATIENTS = load_patients(SEED, MCODE)


@pytest.fixture(scope="module")
def ehr() -> Iterator[Ehr]:
    yield from running_ehr(PATIENTS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ehr: Ehr) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("ehr-live")
    url = f"sqlite:///{folder / 'trialsite.db'}"
    load_sample(url)
    env = {"TRIALSITE_FHIR_SERVERS": ehr.fhir_base, "TRIALSITE_FHIR_TIMEOUT_S": "2"}
    with live_server(url, folder, workers=2, env=env) as running:
        yield running


def start_launch(
    server: LiveServer, ehr: Ehr, patient_id: str = SEED_ID
) -> tuple[requests.Session, requests.Response]:
    """A browser (a session keeping its cookies) opening /launch from the EHR."""
    browser = requests.Session()
    started = browser.get(
        f"{server.base_url}/launch",
        params={"iss": ehr.fhir_base, "launch": ehr.new_launch(patient_id)},
        allow_redirects=False,
        timeout=10,
    )
    return browser, started


def launch(
    server: LiveServer, ehr: Ehr, patient_id: str = SEED_ID
) -> tuple[requests.Session, requests.Response]:
    """An EHR launch as a browser follows it: /launch → the EHR's authorize → /launch/callback."""
    browser, started = start_launch(server, ehr, patient_id)
    assert started.status_code == 302, started.text
    authorize = started.headers["location"]
    assert authorize.startswith(f"{ehr.base}/auth/authorize?")
    asked = parse_qs(urlsplit(authorize).query)
    assert asked["code_challenge_method"] == ["S256"] and len(asked["code_challenge"][0]) == 43
    assert asked["aud"] == [ehr.fhir_base] and "launch" in asked["scope"][0].split()
    approved = browser.get(authorize, allow_redirects=False, timeout=10)
    assert approved.status_code == 302
    callback = approved.headers["location"]
    assert callback.startswith(f"{server.base_url}/launch/callback?code=")
    return browser, browser.get(callback, allow_redirects=False, timeout=30)


def test_a_smart_launch_fills_the_match_form_from_the_record(server: LiveServer, ehr: Ehr) -> None:
    ehr.requests.clear()
    _, page = launch(server, ehr)
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "From the patient's record" in html
    assert 'value="Palencia, ES"' in html and 'value="1992-03-14"' in html and ">female<" in html
    assert "Lupus nephritis</textarea>" in html
    assert 'value="SLEDAI-2K"' in html and 'value="12"' in html
    assert 'value="mycophenolate mofetil"' in html
    assert html.count('class="from-record"') >= 7
    assert "University Hospital Río Hortega" in html and "42.7 km" in html
    token_posts = [p for m, p, _ in ehr.requests if m == "POST"]
    assert token_posts == ["/auth/token"]  # the EHR checked the PKCE verifier against the challenge
    reads = ehr.reads()
    assert {urlsplit(p).path for p, _ in reads} == {
        f"/fhir/Patient/{SEED_ID}", "/fhir/Condition", "/fhir/Observation", "/fhir/MedicationRequest"
    }  # fmt: skip
    assert all(a == f"Bearer {ehr.token}" for _, a in reads)


def test_a_launch_is_used_once_in_the_browser_that_started_it(server: LiveServer, ehr: Ehr) -> None:
    browser, started = start_launch(server, ehr)
    callback = requests.get(started.headers["location"], allow_redirects=False, timeout=10).headers[
        "location"
    ]
    other_browser = requests.get(callback, timeout=10)
    assert other_browser.status_code == 400 and "another browser" in other_browser.text
    again = browser.get(callback, timeout=10)  # the state was taken by the first try
    assert again.status_code == 400 and "expired or was already used" in again.text
    denied = browser.get(
        f"{server.base_url}/launch/callback", params={"error": "access_denied", "state": "x"}
    )
    assert denied.status_code == 400 and "access_denied" in denied.text


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"iss": "http://127.0.0.1:9/fhir", "launch": "x"}, "not one trialsite is set up to read"),
        ({"iss": "https://fhir.example.org", "launch": "x"}, "not one trialsite is set up to read"),
        ({"launch": "x"}, "iss and launch"),
        ({}, "iss and launch"),
    ],
)
def test_a_launch_from_another_server_is_refused(
    server: LiveServer, params: dict[str, str], said: str
) -> None:
    response = requests.get(f"{server.base_url}/launch", params=params, allow_redirects=False, timeout=10)
    assert response.status_code == 400 and said in response.text


def test_card_links_open_on_any_worker_once(server: LiveServer) -> None:
    """Two workers share the handoff store (api.handoff): each link opens wherever it lands."""
    links = []
    for _ in range(12):
        with requests.Session() as fresh:  # a new connection each time: either worker answers
            card = fresh.post(
                server.base_url + SERVICE,
                json=hook_request(SEED_ID, prefetch=prefetch_for(PATIENTS[SEED_ID])),
                timeout=30,
            ).json()["cards"][0]
        links.append(card["links"][0]["url"])
    for link in links:
        assert link.startswith(f"{server.base_url}/handoff/")
        with requests.Session() as fresh:
            page = fresh.get(link, timeout=30)
            assert page.status_code == 200 and "University Hospital Río Hortega" in page.text
    for link in links[:3]:
        assert requests.get(link, timeout=10).status_code == 404


def test_no_patient_value_or_token_reaches_the_server_log(server: LiveServer, ehr: Ehr) -> None:
    session = requests.Session()
    by_prefetch = session.post(
        server.base_url + SERVICE,
        json=hook_request(SEED_ID, prefetch=prefetch_for(PATIENTS[SEED_ID])),
        timeout=30,
    ).json()
    by_server = session.post(
        server.base_url + SERVICE, json=hook_request(SEED_ID, ehr=ehr), timeout=30
    ).json()
    failing = hook_request(SEED_ID, ehr=ehr)
    failing["fhirAuthorization"]["access_token"] = "STALE-TOKEN-77"
    assert session.post(server.base_url + SERVICE, json=failing, timeout=30).json() == {"cards": []}
    bad = hook_request(SEED_ID, prefetch=prefetch_for(PATIENTS[SEED_ID]))
    bad["prefetch"]["patient"]["birthDate"] = "14/03/1992 Palencia"
    assert session.post(server.base_url + SERVICE, json=bad, timeout=30).status_code == 400
    for card in (*by_prefetch["cards"], *by_server["cards"]):
        for link in card["links"]:
            assert not any(value in link["url"] for value in SEED_VALUES)
        assert session.get(card["links"][0]["url"], timeout=30).status_code == 200
    launch(server, ehr)
    log = server.log.read_text(errors="replace")
    for leak in (*SEED_VALUES, ehr.token, "STALE-TOKEN-77", "Río Hortega", "code="):
        assert leak not in log, leak
    assert "the record could not be read" in log  # the failed read: one line, no value
    requests_logged = [line for line in log.splitlines() if re.search(r" (GET|POST) /", line)]
    assert requests_logged and not any("?" in line for line in requests_logged)
    assert "GET /handoff/… 200" in log  # the id, a key to her profile for minutes, is not logged


def test_a_launch_for_a_patient_with_no_trial_near_her_says_so(ehr: Ehr, server: LiveServer) -> None:
    _, page = launch(server, ehr, "1e208b6b-77f1-4808-a32b-9f9caf1ec334")  # mCODE: Newburyport, MA
    assert page.status_code == 200
    assert 'value="Newburyport, MA, US"' in page.text
    assert "Malignant neoplasm of breast" in page.text
    assert "No matches" in page.text
