"""Trial pages (the seed's layout, as text and as HTML): every fact, one identity, one store."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, func, select

from db.upsert import CHANGE, CRITERION, SITE, SOURCE, TRIAL
from ingest.ctgov.parser import parse_study
from ingest.files.reader import iter_paths
from ingest.pages.identity import merge_page_into_registry, page_trial_id
from ingest.pages.load import PageSourceError, ingest_pages
from ingest.pages.parser import parse_page_html, parse_page_text
from ingest.pipeline import ingest_items
from ingest.record import Contact, NormalizedTrial, RecordError
from tests.conftest import FIXTURES

SEED = FIXTURES / "seeds" / "000_7eec3db7379f51b9.txt"
PAGES = FIXTURES / "pages"
TITLE = (
    "Phase II, Double-Blind, Placebo-Controlled Clinical Trial to Evaluate Safety and Efficacy of "
    "Mesenchymal Stem Cells (MSV-allo) in the Treatment of Lupus Nephritis"
)
CRITERIA = [
    "Females or males ≥18 years old who provide written informed consent at the selection visit.",
    "Diagnosis of systemic lupus erythematosus (SLE) by meeting at least 4 of the 11 criteria included in "
    "the American College of Rheumatology (ACR) classification and/or the Systemic Lupus International "
    "Collaborating Clinics (SLICC) criteria, at the selection visit.",
    "Diagnosis of lupus nephritis (LN) using the 2003 classification of the International Society of "
    "Nephrology and the Society of Renal Pathology, by biopsy performed no more than 6 months before the "
    "selection visit if they enter from the induction period, and no more than one year if they enter with "
    "a moderate/severe recurrence.",
    "No response or partial response to standard treatment, or moderate/severe recurrence of lupus nephritis.",
    "SLEDAI-2K ≥ 10 during the selection period.",
    "Women of childbearing potential should use effective methods of contraception to prevent pregnancy.",
    "Have been vaccinated against pneumococcus and influenza at the time the vaccination campaign is carried out.",
]
READ_ON = "2025-01-15"


def seed() -> NormalizedTrial:
    return parse_page_text(SEED.read_text(encoding="utf-8"))


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_seed_page_carries_every_fact() -> None:
    t = seed()
    assert t.source == "page"
    assert t.official_title == TITLE
    assert t.overall_status == "RECRUITING"
    assert t.phases == ["PHASE2"]
    assert t.study_type == "INTERVENTIONAL"
    assert (t.minimum_age, t.minimum_age_days, t.maximum_age) == ("18 Years", 18 * 365.25, None)
    assert t.std_ages == ["ADULT", "OLDER_ADULT"]
    assert t.sex == "ALL"
    assert t.healthy_volunteers is False
    assert t.eligibility_criteria == "Inclusion Criteria:\n\n" + "\n".join(f"* {c}" for c in CRITERIA)
    assert (t.start_date, t.start_date_type) == ("2022-12-27", None)
    assert (t.completion_date, t.completion_date_type) == ("2027-12", "ESTIMATED")
    assert (t.enrollment, t.enrollment_type) == (20, "ESTIMATED")  # "Target number of participants"
    assert t.brief_summary is not None
    assert t.brief_summary.startswith("The purpose of this study is to evaluate the safety and efficacy")
    assert t.brief_summary.endswith("during its induction period.")
    assert [c.term for c in t.conditions] == ["lupus nephritis"]
    assert [(i.name, i.type) for i in t.interventions] == [("Mesenchymal stromal cells", "DRUG")]

    experimental, placebo = t.arms
    assert (experimental.type, experimental.label) == ("EXPERIMENTAL", "Mesenchymal stem cells (MSC)")
    assert experimental.description is not None
    assert "2 million cells per kg wt suspended in 100 ml of physiological saline" in experimental.description
    assert (placebo.type, placebo.label) == ("PLACEBO_COMPARATOR", "Placebo")
    assert placebo.description == (
        "Participants will receive a placebo infusion (100 ml of physiological saline solution) "
        "that does not contain any mesenchymal stem cells."
    )

    assert t.lead_sponsor is not None and t.lead_sponsor.name == "Red de Terapia Celular"
    assert [c.name for c in t.collaborators] == [
        "University of Valladolid",
        "Hospital del Rio Hortega",
        "Hospital Clínico Universitario de Valladolid",
        "Citospin",
    ]

    (site,) = t.sites
    assert (site.facility, site.city, site.country, site.country_code, site.status) == (
        "University Hospital Río Hortega",
        "Valladolid",
        "Spain",
        "ES",
        "RECRUITING",
    )
    assert (site.latitude, site.longitude, site.geo_source) == (None, None, None)  # not geocoded yet
    assert site.contacts == [
        Contact(
            "Julia Barbado, MD, PhD", "CONTACT", "+34 983 420400", None, "jbarbadoa@saludcastillayleon.es"
        ),
        Contact(
            "Margarita González-Vallinas, PhD", "CONTACT", "+34 983 184688", None, "mgvallinas@ibgm.uva.es"
        ),
    ]
    # The page never prints its NCT number: a stable id from its content.
    assert t.nct_id == page_trial_id(t) and t.nct_id.startswith("PAGE-") and len(t.nct_id) == 15


def test_html_rendering_gives_the_same_record() -> None:
    html = parse_page_html((PAGES / "seed.html").read_bytes())
    assert html.to_dict() == seed().to_dict()
    # Similar trials listed beside the page are not the page's identity.
    assert html.nct_id.startswith("PAGE-")


def test_reordered_variant_with_other_bullets_gives_the_same_record() -> None:
    variant = parse_page_text((PAGES / "seed_variant.txt").read_text(encoding="utf-8"))
    assert variant.to_dict() == seed().to_dict()


def test_missing_sections_and_a_printed_nct_id() -> None:
    text = SEED.read_text(encoding="utf-8")
    head, _, rest = text.partition("Locations\n")
    _, _, tail = rest.partition("Time Frame\n")
    partial = parse_page_text(f"{head}Time Frame\n{tail.replace('Treatments', 'Unrelated heading')}")
    assert partial.sites == [] and partial.start_date == "2022-12-27"
    assert partial.overall_status == "RECRUITING" and len(partial.eligibility_criteria or "") > 100
    with_id = parse_page_text(
        text.replace("Status: Recruiting", "ClinicalTrials.gov ID: NCT03673748\nStatus: Recruiting")
    )
    assert with_id.nct_id == "NCT03673748"


def test_page_id_is_stable_and_content_derived() -> None:
    t = seed()
    shouted = parse_page_text(
        SEED.read_text(encoding="utf-8").replace(TITLE, "  " + TITLE.upper().replace(" ", "   ") + "  ")
    )
    assert shouted.nct_id == t.nct_id
    other = parse_page_text(
        SEED.read_text(encoding="utf-8").replace("Lupus Nephritis\n", "IgA Nephropathy\n", 1)
    )
    assert other.nct_id != t.nct_id and other.nct_id.startswith("PAGE-")


def test_seed_ingested_twice_through_the_store_changes_nothing(engine: Engine) -> None:
    first = ingest_pages(engine, [str(SEED)], read_on=READ_ON)
    (page_id,) = first.ids
    assert (first.inserted, first.quarantined, page_id) == (1, 0, seed().nct_id)
    with engine.connect() as conn:
        before = conn.execute(select(TRIAL)).mappings().one()
    assert (before["official_title"], before["overall_status"], before["phases"], before["study_type"]) == (
        TITLE,
        "RECRUITING",
        "PHASE2",
        "INTERVENTIONAL",
    )
    assert (
        before["minimum_age_days"],
        before["sex"],
        before["healthy_volunteers"],
        before["enrollment"],
    ) == (
        18 * 365.25,
        "ALL",
        False,
        20,
    )
    assert (before["source"], before["version_date"], before["lead_sponsor"]) == (
        "page",
        READ_ON,
        "Red de Terapia Celular",
    )
    assert (
        count(
            engine, SITE, SITE.c.country_code == "ES", SITE.c.latitude.is_(None), SITE.c.geo_source.is_(None)
        )
        == 1
    )
    with engine.connect() as conn:
        contacts = conn.execute(select(SITE.c.contacts)).scalar_one()
        criteria = [r.text for r in conn.execute(select(CRITERION.c.text).order_by(CRITERION.c.position))]
    assert [c["email"] for c in contacts] == ["jbarbadoa@saludcastillayleon.es", "mgvallinas@ibgm.uva.es"]
    assert criteria == CRITERIA

    again = ingest_pages(engine, [str(SEED)], read_on="2025-02-01")
    assert (again.inserted, again.updated, again.unchanged, again.ids) == (0, 0, 1, [page_id])
    with engine.connect() as conn:
        after = conn.execute(select(TRIAL)).mappings().one()
    assert after == before
    assert count(engine, TRIAL) == 1 and count(engine, CHANGE) == 0


@pytest.fixture
def page_server() -> Iterator[str]:
    """A local web server serving the seed page as HTML (tests never touch the internet)."""
    body = (PAGES / "seed.html").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/trials/msv-allo-lupus-nephritis":
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_page_url_is_fetched_and_lands_on_the_same_id(engine: Engine, page_server: str) -> None:
    with requests.Session() as session:
        summary = ingest_pages(
            engine, [f"{page_server}/trials/msv-allo-lupus-nephritis"], session=session, read_on=READ_ON
        )
        assert (summary.inserted, summary.ids) == (1, [seed().nct_id])
        # The text rendering of the same page is the same trial: no second row.
        text = ingest_pages(engine, [str(SEED)], session=session, read_on=READ_ON)
        assert text.ids == [seed().nct_id] and count(engine, TRIAL) == 1
        with pytest.raises(PageSourceError, match="HTTP 404"):
            ingest_pages(engine, [f"{page_server}/trials/gone"], session=session)
    with pytest.raises(PageSourceError, match="no such file"):
        ingest_pages(engine, [str(PAGES / "missing.txt")])


# A registry record and a page of the same trial (built here in the seed's layout from the
# record itself, plus a site contact the registry record does not list).
REGISTRY = FIXTURES / "registry" / "studies.json"
REGISTRY_ID = "NCT05905653"


def registry_study() -> dict[str, Any]:
    studies: list[dict[str, Any]] = json.loads(REGISTRY.read_text())
    return next(s for s in studies if s["protocolSection"]["identificationModule"]["nctId"] == REGISTRY_ID)


def words(enum: str | None) -> str:
    return (enum or "").replace("_", " ").capitalize()


def render_page(t: NormalizedTrial, *, status: str | None = None, nct_line: str = "") -> str:
    """A page in the seed's layout showing the facts of ``t``."""
    site = t.sites[0]
    assert t.lead_sponsor is not None
    lines = [
        t.official_title or "",
        "",
        f"Who is this study for? {t.conditions[0].term}",
        f"What treatments are being studied? {t.interventions[0].name}",
        f"Status: {status or words(t.overall_status)}",
        *([nct_line] if nct_line else []),
        f"Intervention Type: {words(t.interventions[0].type)}",
        f"Study Type: {words(t.study_type)}",
        f"Study Phase: {', '.join(p.replace('PHASE', 'Phase ') for p in t.phases)}",
        "SUMMARY",
        "",
        t.brief_summary or "",
        "",
        "Eligibility",
        "Participation Requirements",
        f"Sex: {words(t.sex)}",
        f"Minimum Age: {(t.minimum_age or '').split()[0]}",
        f"Maximum Age: {t.maximum_age}",
        f"Healthy Volunteers: {'t' if t.healthy_volunteers else 'f'}",
        "View:",
        "",
        *[f"• {line[2:]}" for line in (t.eligibility_criteria or "").splitlines() if line.startswith("* ")],
        "",
        "Locations",
        site.country or "",
        site.facility or "",
        site.status or "",
        site.city or "",
        "Contact Information",
        "Primary",
        "Study Coordinator",
        "coordinator@example.org",
        "+81 6 0000 0000",
        "Time Frame",
        f"Start Date: {t.start_date}",
        f"Estimated Completion Date: {t.completion_date}",
        "Participants",
        f"Target number of participants: {t.enrollment}",
        "Treatments",
        *[f"{a.type.capitalize() if a.type else ''}: {a.label}" for a in t.arms],
        "Sponsors",
        f"Leads: {t.lead_sponsor.name}",
        "",
        "This content was sourced from clinicaltrials.gov",
    ]
    return "\n".join(lines) + "\n"


def test_a_page_reads_like_the_registry_record_it_shows() -> None:
    registry = parse_study(registry_study())
    page = parse_page_text(render_page(registry))
    same = [
        "official_title",
        "overall_status",
        "phases",
        "study_type",
        "sex",
        "minimum_age",
        "minimum_age_days",
        "maximum_age",
        "maximum_age_days",
        "healthy_volunteers",
        "std_ages",
        "start_date",
        "completion_date",
        "completion_date_type",
        "enrollment",
        "enrollment_type",
    ]
    assert {f: getattr(page, f) for f in same} == {f: getattr(registry, f) for f in same}
    assert page.lead_sponsor is not None and page.lead_sponsor.name == "Santen Pharmaceutical Co., Ltd."
    assert [(a.label, a.type) for a in page.arms] == [(a.label, a.type) for a in registry.arms]
    assert [(s.facility, s.city, s.country_code, s.status) for s in page.sites] == [
        (s.facility, s.city, s.country_code, s.status) for s in registry.sites
    ]


def test_merge_keeps_registry_facts_and_fills_gaps() -> None:
    registry = parse_study(registry_study())
    page = parse_page_text(render_page(registry, status="Completed"))
    page.version_date = READ_ON
    merged = merge_page_into_registry(registry, page)
    assert merged.nct_id == REGISTRY_ID and merged.source == "page"
    assert merged.overall_status == "RECRUITING"  # the registry wins where both speak
    assert merged.eligibility_criteria == registry.eligibility_criteria
    assert merged.sites[0].latitude == registry.sites[0].latitude
    assert merged.sites[0].contacts == [
        Contact("Study Coordinator", "CONTACT", "+81 6 0000 0000", None, "coordinator@example.org")
    ]
    assert (merged.last_update_post_date, merged.version_date) == ("2023-06-15", READ_ON)
    unchanged = {"sites", "source", "version_date"}
    assert {k: v for k, v in merged.to_dict().items() if k not in unchanged} == {
        k: v for k, v in registry.to_dict().items() if k not in unchanged
    }
    assert registry.sites[0].contacts == []  # the inputs are not modified


@pytest.mark.parametrize("how", ["title", "nct_id"])
def test_page_of_a_stored_registry_trial_attaches_to_it(engine: Engine, tmp_path: Path, how: str) -> None:
    study = registry_study()
    source = tmp_path / "study.json"
    source.write_text(json.dumps(study))
    assert ingest_items(engine, iter_paths([source]), command="test").inserted == 1
    registry = parse_study(study)
    if how == "title":
        text = render_page(registry, status="Completed")
    else:  # a page printing the NCT id under a title of its own
        text = render_page(registry, status="Completed", nct_line=f"NCT Number: {REGISTRY_ID}")
        text = text.replace(registry.official_title or "", "Eye drops study in healthy men", 1)
    page = tmp_path / "page.txt"
    page.write_text(text, encoding="utf-8")

    summary = ingest_pages(engine, [str(page)], read_on=READ_ON)
    assert (summary.ids, summary.inserted, summary.updated) == ([REGISTRY_ID], 0, 1)
    assert count(engine, TRIAL) == 1  # no duplicate
    with engine.connect() as conn:
        stored = conn.execute(select(TRIAL).where(TRIAL.c.nct_id == REGISTRY_ID)).mappings().one()
        site = conn.execute(select(SITE).where(SITE.c.nct_id == REGISTRY_ID)).mappings().one()
        sources = sorted(r.source for r in conn.execute(select(SOURCE.c.source)))
    assert stored["overall_status"] == "RECRUITING" and stored["official_title"] == registry.official_title
    assert (site["latitude"], site["geo_source"]) == (registry.sites[0].latitude, "registry")
    assert [c["email"] for c in site["contacts"]] == ["coordinator@example.org"]
    assert sources == ["ctgov-api-v2", "page"]  # both raw records are kept

    again = ingest_pages(engine, [str(page)], read_on="2025-03-01")
    assert (again.ids, again.unchanged, again.updated) == ([REGISTRY_ID], 1, 0)
    # The same registry version again: the stored record (registry + page) is not older.
    reload = ingest_items(engine, iter_paths([source]), command="test")
    assert (reload.updated, reload.stale) == (0, 1)


def test_a_changed_page_read_later_updates_with_change_events(engine: Engine, tmp_path: Path) -> None:
    page = tmp_path / "page.txt"
    page.write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    ingest_pages(engine, [str(page)], read_on=READ_ON)
    page.write_text(
        SEED.read_text(encoding="utf-8").replace("Status: Recruiting", "Status: Completed"), encoding="utf-8"
    )
    summary = ingest_pages(engine, [str(page)], read_on="2025-02-01")
    assert (summary.updated, summary.ids) == (1, [seed().nct_id])
    with engine.connect() as conn:
        events = {
            (r.kind, r.old_value, r.new_value)
            for r in conn.execute(select(CHANGE.c.kind, CHANGE.c.old_value, CHANGE.c.new_value))
        }
    assert ("status", "RECRUITING", "COMPLETED") in events


def test_html_link_to_the_registry_gives_the_nct_id_and_bad_values_name_their_field() -> None:
    html = (PAGES / "seed.html").read_text(encoding="utf-8")
    linked = html.replace(
        '<p class="attribution">',
        '<p><a href="https://clinicaltrials.gov/study/NCT03673748">View on ClinicalTrials.gov</a></p>\n<p class="attribution">',
    )
    assert parse_page_html(linked).nct_id == "NCT03673748"
    with pytest.raises(RecordError, match=r"Minimum Age.*unreadable age 'eighteen'"):
        parse_page_text(SEED.read_text(encoding="utf-8").replace("Minimum Age: 18", "Minimum Age: eighteen"))
    with pytest.raises(RecordError, match="unknown status 'Recruiting soon'"):
        parse_page_text(
            SEED.read_text(encoding="utf-8").replace("Status: Recruiting", "Status: Recruiting soon")
        )
