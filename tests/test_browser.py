"""The web pages in a real browser: Debian's Chromium driven by Playwright, against
``trialsite serve`` on a real socket, on the bundled sample.

Each test checks what a nephrologist or an advocate sees, that the page logged no
console error, and that no request left the host. Screenshots are saved under
``tests/artifacts/`` (or ``$TRIALSITE_ARTIFACTS``) to be looked at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.live_server import ROOT, LiveServer, live_server
from tests.sample_store import SEED_PAGE_ID, load_sample

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TRIALSITE_ARTIFACTS") or ROOT / "tests" / "artifacts")

if not CHROMIUM.exists():  # `make test` installs it; elsewhere say so rather than pass
    pytest.skip(
        f"{CHROMIUM} is missing: `apt-get install -y chromium` (make test does)", allow_module_level=True
    )

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'trialsite.db'}"
    load_sample(url)
    with live_server(url, folder) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page whose console errors and off-host requests are recorded."""

    def __init__(self, page: Page, host: str) -> None:
        self.page, self.host = page, host
        self.errors: list[str] = []
        self.off_site: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", self._request)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _request(self, request: Request) -> None:
        parsed = urlparse(request.url)
        if parsed.scheme in {"http", "https"} and parsed.netloc != self.host:
            self.off_site.append(request.url)

    def clean(self) -> None:
        assert self.errors == []
        assert self.off_site == []

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(params=[(1280, 900), (390, 844)], ids=["desktop", "phone"])
def page(request: pytest.FixtureRequest, browser: Browser, server: LiveServer) -> Iterator[Watched]:
    width, height = request.param
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        watched = Watched(context.new_page(), urlparse(server.base_url).netloc)
        watched.page.set_default_timeout(30_000)
        yield watched
    finally:
        context.close()


def label(watched: Watched) -> str:
    size = watched.page.viewport_size
    return "phone" if size is not None and size["width"] < 600 else "desktop"


def test_the_shared_search_url_shows_the_seed_trial(page: Watched, server: LiveServer) -> None:
    page.page.goto(f"{server.base_url}/?condition=lupus+nephritis&near=Palencia%2C+Spain&radius_km=150")
    first = page.page.locator("ol.results > li").first
    assert "Mesenchymal Stem Cells" in first.inner_text()
    assert "University Hospital Río Hortega, Valladolid, Spain — 42.7 km" in first.inner_text()
    assert page.page.get_by_label("Condition").input_value() == "lupus nephritis"
    page.shot(f"search-{label(page)}")
    page.clean()


def test_the_advocate_types_a_search(page: Watched, server: LiveServer) -> None:
    page.page.goto(server.base_url)
    page.page.get_by_label("Condition").fill("lupus nephritis")
    page.page.get_by_label('Near (city, postal code or "lat,lon")').fill("Palencia, Spain")
    page.page.get_by_label("Within (km)").fill("150")
    page.page.get_by_role("button", name="Search").click()
    page.page.wait_for_url(re.compile(r".*condition=lupus\+nephritis.*"))
    assert "42.7 km" in page.page.locator("ol.results").inner_text()
    page.clean()


def test_the_nephrologist_matches_the_seed_patient_and_prints_a_referral(
    page: Watched, server: LiveServer
) -> None:
    page.page.goto(f"{server.base_url}/match")
    page.page.get_by_label("Age (years)").fill("34")
    page.page.get_by_label("Sex").select_option("female")
    page.page.get_by_label('Lives in (city, postal code or "lat,lon")').fill("Palencia, Spain")
    page.page.get_by_label("Within (km)").fill("100")
    page.page.get_by_label("Conditions (one per line)").fill("lupus nephritis")
    page.page.get_by_label("Measurement 1 name").fill("SLEDAI-2K")
    page.page.get_by_label("Measurement 1 value").fill("12")
    page.page.get_by_role("button", name="Find trials").click()
    page.page.wait_for_selector("ol.results")
    assert "?" not in page.page.url and "Palencia" not in page.page.url  # POST: nothing in the URL
    first = page.page.locator("ol.results > li").first
    text = first.inner_text()
    assert "Mesenchymal Stem Cells" in text and "Río Hortega" in text and "42.7 km" in text
    assert "3 met · 0 not met · 4 to check" in text
    page.shot(f"match-{label(page)}")
    first.get_by_role("button", name=f"Referral summary for {SEED_PAGE_ID}").click()
    page.page.wait_for_selector("article.summary")
    summary = page.page.locator("article.summary").inner_text()
    assert (
        "Referral summary" in summary
        and "jbarbadoa@saludcastillayleon.es" in summary
        and "42.7 km" in summary
    )
    page.page.emulate_media(media="print")
    assert not page.page.get_by_role("button", name="Print this summary").is_visible()
    page.shot(f"referral-summary-print-{label(page)}")
    page.page.emulate_media(media="screen")
    page.clean()


def test_the_trial_page_orders_sites_and_marks_rules(page: Watched, server: LiveServer) -> None:
    page.page.goto(f"{server.base_url}/trials/{SEED_PAGE_ID}?near=Palencia%2C+Spain")
    assert "42.7 km" in page.page.locator("ol.sites").inner_text()
    assert page.page.locator("ol.criteria mark").count() > 0
    page.shot(f"trial-{label(page)}")
    page.clean()


def test_every_input_has_a_label_and_the_keyboard_reaches_the_button(
    page: Watched, server: LiveServer
) -> None:
    for path in ("/", "/match"):
        page.page.goto(server.base_url + path)
        unlabeled = page.page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                 .map(el => el.name)"""
        )
        assert unlabeled == [], path
    page.page.goto(server.base_url)
    page.page.get_by_label("Condition").focus()
    page.page.keyboard.type("lupus nephritis")
    page.page.keyboard.press("Enter")
    page.page.wait_for_url(re.compile(r".*condition=lupus.*"))
    page.clean()


def test_docs_load_without_off_site_assets(page: Watched, server: LiveServer) -> None:
    page.page.goto(f"{server.base_url}/docs")
    assert "POST /api/v1/match" in page.page.locator("main").inner_text()
    page.clean()


def test_a_pasted_referral_letter_fills_the_form_for_review(page: Watched, server: LiveServer) -> None:
    letter = (Path(__file__).resolve().parent.parent / "sample" / "referral.txt").read_text(encoding="utf-8")
    page.page.goto(f"{server.base_url}/match")
    page.page.get_by_text("Paste a referral letter to fill the form").click()
    page.page.get_by_label("Referral letter (English or Spanish)", exact=False).fill(letter)
    page.page.get_by_role("button", name="Read the letter").click()
    page.page.wait_for_selector("#letter-read")
    assert "?" not in page.page.url and "Palencia" not in page.page.url  # the letter went by POST
    # Filled for review, and nothing matched yet.
    assert page.page.get_by_label("Age (years)").input_value() == "34"
    assert page.page.get_by_label("Sex").input_value() == "female"
    assert (
        page.page.get_by_label('Lives in (city, postal code or "lat,lon")').input_value() == "Palencia, Spain"
    )
    assert "Lupus Nephritis" in page.page.get_by_label("Conditions (one per line)").input_value()
    assert page.page.get_by_label("Known not to have (one per line)").input_value() == "Diabetes Mellitus"
    assert page.page.get_by_label("Family history (one per line)").input_value() == "Rheumatoid Arthritis"
    assert page.page.locator("ol.results").count() == 0
    evidence = page.page.locator("#letter-read").inner_text()
    assert "34-year-old" in evidence and "Palencia" in evidence and "rheumatoid arthritis" in evidence
    page.shot(f"letter-read-{label(page)}")
    page.page.get_by_role("button", name="Find trials").click()
    page.page.wait_for_selector("ol.results")
    first = page.page.locator("ol.results > li").first.inner_text()
    assert "Mesenchymal Stem Cells" in first and "42.7 km" in first
    page.clean()
