"""What is not a trial record is recognized, refused with a reason, and quarantined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from db.upsert import QUARANTINE, TRIAL
from ingest.files.reader import HTML, TEXT, XML, RawItem, iter_paths
from ingest.pages.load import ingest_pages
from ingest.pages.parser import parse_page_html, parse_page_text
from ingest.pipeline import ingest_items
from ingest.record import RecordError
from ingest.sources import parse_item
from tests.conftest import CTGOV, FIXTURES

CLASSIC = CTGOV / "aact-fixtures" / "classic-api-v1"
AACT = FIXTURES / "ctgov-xml" / "aact"
PAGES = FIXTURES / "pages"


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def refusal(item: RawItem) -> str:
    with pytest.raises(RecordError) as caught:
        parse_item(item)
    return str(caught.value)


def test_classic_api_json_is_refused_and_quarantined(engine: Engine) -> None:
    files = sorted(CLASSIC.glob("*.json"))
    assert [f.name for f in files] == ["NCT04780763.json", "ctg_api_all.json", "results_2.json"]
    summary = ingest_items(engine, iter_paths([CLASSIC]), command="test")
    assert (summary.seen, summary.inserted, summary.quarantined) == (3, 0, 3)
    for entry in summary.quarantine:
        assert "retired classic API" in entry["reason"] and "FullStudiesResponse" in entry["reason"]
    assert count(engine, QUARANTINE) == 3 and count(engine, TRIAL) == 0


@pytest.mark.parametrize("name", ["covid_search.xml", "empty_search.xml"])
def test_rss_search_feeds_are_refused(name: str) -> None:
    reason = refusal(next(iter_paths([AACT / name])))
    assert reason.startswith("RSS search feed") and "not a study record" in reason
    if name == "empty_search.xml":
        assert "(no items)" in reason
    else:
        assert "(5 items)" in reason


def test_empty_search_results_are_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"studies": [], "totalCount": 0}))
    assert refusal(next(iter_paths([page]))) == "empty search result (no studies)"
    xml = b'<?xml version="1.0"?><search_results count="0"></search_results>'
    assert "empty search result" in refusal(RawItem("search.xml", XML, xml, xml))
    listing = b'<search_results count="2"><clinical_study><nct_id>NCT00000416</nct_id></clinical_study></search_results>'
    assert "search result listing" in refusal(RawItem("search.xml", XML, listing, listing))


def test_other_xml_and_html_saved_as_xml_are_refused() -> None:
    other = b"<?xml version='1.0'?><PubmedArticleSet/>"
    assert (
        refusal(RawItem("x.xml", XML, other, other))
        == "not a <clinical_study> record (root <pubmedarticleset>)"
    )
    html = (AACT / "Invalid-nct-id.html").read_bytes()
    assert refusal(RawItem("saved.xml", XML, html, html)) == "an HTML page saved as XML, not a study record"


def test_non_trial_html_is_refused_with_its_title() -> None:
    with pytest.raises(RecordError, match=r"not a trial page \('Living with lupus nephritis"):
        parse_page_html((PAGES / "not_a_trial.html").read_bytes())
    # The registry's own "Invalid URL Path" error page, saved by AACT as a fixture.
    with pytest.raises(RecordError, match=r"not a trial page \('An Error Has Occurred'\): it has none"):
        parse_page_html((AACT / "Invalid-nct-id.html").read_bytes())
    with pytest.raises(RecordError, match="not a trial page"):
        parse_page_text("Shopping list\n\n- milk\n- eggs\n")
    with pytest.raises(RecordError, match="no title"):
        parse_page_text("")
    assert "not a trial page" in refusal(RawItem("x.html", HTML, b"<html><body><p>Hello</p></body></html>"))
    assert "not a trial page" in refusal(RawItem("x.txt", TEXT, b"Hello\n"))


def test_non_trial_pages_are_quarantined_through_ingest_page(engine: Engine) -> None:
    sources = [str(PAGES / "not_a_trial.html"), str(AACT / "Invalid-nct-id.html")]
    summary = ingest_pages(engine, sources, read_on="2025-01-15")
    assert (summary.seen, summary.inserted, summary.quarantined, summary.exit_code) == (2, 0, 2, 2)
    assert [q["origin"] for q in summary.quarantine] == sources
    assert all(q["reason"].startswith("not a trial page") for q in summary.quarantine)
    assert count(engine, QUARANTINE) == 2 and count(engine, TRIAL) == 0
