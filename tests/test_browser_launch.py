"""The SMART launch and a card's link in a real browser (Debian's Chromium, Playwright), against
``trialsite serve`` and the loopback EHR (``tests/ehr_server.py``): what the nephrologist sees
when trialsite opens from her patient's record. Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode, urlparse

import pytest
import requests

from tests.ehr_server import SEED, SEED_ID, Ehr, hook_request, load_patients, prefetch_for, running_ehr
from tests.live_server import LiveServer, live_server
from tests.sample_store import load_sample
from tests.test_browser import Watched, browser, label, page  # noqa: F401 (the browser and page fixtures)

PATIENTS = load_patients(SEED)


@pytest.fixture(scope="module")
def ehr() -> Iterator[Ehr]:
    yield from running_ehr(PATIENTS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ehr: Ehr) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("browser-launch")
    url = f"sqlite:///{folder / 'trialsite.db'}"
    load_sample(url)
    with live_server(url, folder, env={"TRIALSITE_FHIR_SERVERS": ehr.fhir_base}) as running:
        yield running


def test_the_nephrologist_opens_trialsite_from_the_record(
    page: Watched,  # noqa: F811 (the fixture)
    server: LiveServer,
    ehr: Ehr,
) -> None:
    query = urlencode({"iss": ehr.fhir_base, "launch": ehr.new_launch(SEED_ID)})
    page.page.goto(f"{server.base_url}/launch?{query}")  # as the EHR opens it
    page.page.wait_for_selector("#record-read")
    assert page.page.url.startswith(f"{server.base_url}/launch/callback?code=")
    assert "Palencia" not in page.page.url and SEED_ID not in page.page.url
    assert page.page.get_by_label('Lives in (city, postal code or "lat,lon")').input_value() == "Palencia, ES"
    assert page.page.get_by_label("or birth date").input_value() == "1992-03-14"
    assert page.page.get_by_label("Sex").input_value() == "female"
    assert page.page.get_by_label("Conditions (one per line)").input_value() == "Lupus nephritis"
    assert page.page.get_by_label("Measurement 1 name").input_value() == "SLEDAI-2K"
    assert page.page.get_by_label("Measurement 1 value").input_value() == "12"
    marks = page.page.locator("form.patient .from-record")
    assert marks.count() >= 6 and marks.first.is_visible()
    first = page.page.locator("ol.results > li").first.inner_text()
    assert (
        "Mesenchymal Stem Cells" in first
        and "University Hospital Río Hortega" in first
        and "42.7 km" in first
    )
    page.shot(f"smart-launch-{label(page)}")
    # She reviews, widens the radius and searches again: an ordinary /match POST.
    page.page.get_by_label("Within (km)").fill("150")
    page.page.get_by_role("button", name="Find trials").click()
    page.page.wait_for_selector("ol.results")
    assert "within 150 km" in page.page.locator("#results-heading").inner_text()
    assert page.page.locator("form.patient .from-record").count() == 0
    # Only the EHR's authorization server was visited besides trialsite.
    assert all(urlparse(u).netloc == urlparse(ehr.base).netloc for u in page.off_site)
    page.off_site.clear()
    page.clean()


def test_a_cards_link_opens_the_patient_in_trialsite(
    page: Watched,  # noqa: F811 (the fixture)
    server: LiveServer,
) -> None:
    hook = hook_request(SEED_ID, prefetch=prefetch_for(PATIENTS[SEED_ID]))
    card = requests.post(
        f"{server.base_url}/cds-services/trialsite-nearby-trials", json=hook, timeout=30
    ).json()
    link = card["cards"][0]["links"][0]["url"]
    page.page.goto(link)
    page.page.wait_for_selector("ol.results")
    assert "a CDS Hooks card" in page.page.locator("#record-read").inner_text()
    assert "42.7 km" in page.page.locator("ol.results > li").first.inner_text()
    page.shot(f"cds-card-handoff-{label(page)}")
    page.page.goto(link)  # single use
    assert "This link has expired" in page.page.locator("h1").inner_text()
    page.errors[:] = [e for e in page.errors if "404" not in e]  # the browser reports the 404 itself
    page.clean()
