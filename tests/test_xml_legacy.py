"""Legacy ``<clinical_study>`` XML: parsed to the same record as API v2 JSON, loaded into a real store."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from db.upsert import CHANGE, SITE, TRIAL
from ingest.ctgov.parser import parse_study
from ingest.files.reader import XML, RawItem, iter_paths
from ingest.legacy_xml.parser import normalize_textblock, parse_clinical_study
from ingest.pipeline import IngestSummary, ingest_items
from ingest.record import RecordError
from ingest.sources import parse_item
from tests.conftest import FIXTURES, V2

XML_DIR = FIXTURES / "ctgov-xml"
AACT = XML_DIR / "aact"
PAIRED_XML = XML_DIR / "paired" / "NCT02513394.xml"
PAIRED_JSON = V2 / "NCT02513394.json"

# NCT02513394 as downloaded on 2020-08-18 (XML) and as the API served it on 2023-10-06 (JSON).
# What the registry changed between the two versions:
CHANGED_BETWEEN_VERSIONS = {
    "primary_completion_date",  # September 2020 (anticipated) → 2020-11 (actual)
    "primary_completion_date_type",  # ESTIMATED → ACTUAL
    "last_update_post_date",  # 2020-03-09 → 2023-06-15
    "status_verified_date",  # 2019-12 → 2023-04
    "version_date",  # download date 2020-08-18 → versionHolder 2023-10-06
    "has_results",  # results first posted 2022-04-13
    "collaborators",  # ABCSG and NSABP reclassified OTHER → NETWORK
    "sites",  # 233 → 437 locations, and API sites carry coordinates
}
# What legacy XML cannot say the way API v2 does (compared below on what both carry):
NOT_IN_LEGACY_XML = {
    "secondary_ids",  # XML gives the ids only, no type or domain
    "conditions",  # MeSH terms without ids, and no MeSH ancestors
    "eligibility_criteria",  # the same text in the legacy layout ("-  " bullets, hard-wrapped)
}
SOURCE_FIELD = {"source"}  # ctgov-xml vs ctgov-api-v2, by definition


def load(engine: Engine, *paths: Path) -> IngestSummary:
    return ingest_items(engine, iter_paths(list(paths)), command="test")


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def xml_trial(name: str) -> Any:
    return parse_clinical_study((XML_DIR / name).read_bytes())


def test_paired_xml_and_json_agree_on_every_field_that_did_not_change() -> None:
    old = parse_clinical_study(PAIRED_XML.read_bytes()).to_dict()
    new = parse_study(json.loads(PAIRED_JSON.read_text())).to_dict()
    differing = {name for name in old if old[name] != new[name]}
    for name in sorted(differing):  # shown with -s: the evidence for the sets above
        print(f"{name}: {str(old[name])[:120]!r} | {str(new[name])[:120]!r}")
    assert differing == CHANGED_BETWEEN_VERSIONS | NOT_IN_LEGACY_XML | SOURCE_FIELD

    # Fields legacy XML states differently still agree on what both carry.
    assert [s["id"] for s in old["secondary_ids"]] == [s["id"] for s in new["secondary_ids"]]
    assert [(c["term"], c["kind"]) for c in old["conditions"]] == [
        (c["term"], c["kind"]) for c in new["conditions"] if c["kind"] != "mesh_ancestor"
    ]

    def words(criteria: str) -> list[str]:
        return re.sub(r"(?m)^\s*(?:[-*•]|\d+\.)\s+", "", criteria).split()

    assert words(old["eligibility_criteria"]) == words(new["eligibility_criteria"])
    assert [c["name"] for c in old["collaborators"]] == [c["name"] for c in new["collaborators"]]
    assert (len(old["sites"]), len(new["sites"])) == (233, 437)
    addresses = {(s["facility"], s["city"], s["state"], s["country_code"]) for s in new["sites"]}
    assert (
        sum((s["facility"], s["city"], s["state"], s["country_code"]) in addresses for s in old["sites"]) > 90
    )


def test_paired_xml_values_in_registry_vocabulary() -> None:
    t = parse_clinical_study(PAIRED_XML.read_bytes())
    assert t.source == "ctgov-xml" and t.nct_id == "NCT02513394"
    assert (t.overall_status, t.phases, t.study_type) == (
        "ACTIVE_NOT_RECRUITING",
        ["PHASE3"],
        "INTERVENTIONAL",
    )
    assert (t.start_date, t.start_date_type) == ("2015-08", None)
    assert (t.completion_date, t.completion_date_type) == ("2025-09", "ESTIMATED")
    assert (t.enrollment, t.enrollment_type) == (5796, "ACTUAL")
    assert (t.sex, t.minimum_age, t.minimum_age_days, t.maximum_age) == ("ALL", "18 Years", 18 * 365.25, None)
    assert t.healthy_volunteers is False and t.std_ages == ["ADULT", "OLDER_ADULT"]
    assert (t.first_post_date, t.last_update_post_date, t.last_update_post_date_type) == (
        "2015-07-31",
        "2020-03-09",
        "ACTUAL",
    )
    assert (t.version_date, t.status_verified_date) == ("2020-08-18", "2019-12")
    assert t.lead_sponsor is not None and (t.lead_sponsor.name, t.lead_sponsor.sponsor_class) == (
        "Alliance Foundation Trials, LLC.",
        "OTHER",
    )
    assert t.collaborators[-1].name == "Pfizer" and t.collaborators[-1].sponsor_class == "INDUSTRY"
    assert t.arms[0].intervention_names == ["Drug: Palbociclib", "Drug: Standard Adjuvant Endocrine Therapy"]
    assert t.interventions[1].arm_group_labels == ["Arm A", "Arm B"]
    # No coordinates in legacy XML: every site is an address waiting to be geocoded.
    assert all(s.latitude is None and s.geo_source is None for s in t.sites)
    first = t.sites[0]
    assert (first.facility, first.city, first.state, first.zip, first.country, first.country_code) == (
        "University of South Alabama Mitchell Cancer Institute",
        "Mobile",
        "Alabama",
        "36604",
        "United States",
        "US",
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("aact/NCT03424005.xml", {"phases": ["PHASE1", "PHASE2"]}),
        ("lupus/NCT00460928.xml", {"phases": ["EARLY_PHASE1"], "sex": "FEMALE", "std_ages": ["ADULT"]}),
        ("lupus/NCT00000416.xml", {"phases": ["NA"], "maximum_age": "65 Years"}),
        ("aact/NCT02591940.xml", {"overall_status": "UNKNOWN"}),
        ("aact/NCT02028676.xml", {"minimum_age": "3 Months", "std_ages": ["CHILD"], "has_results": True}),
        ("aact/NCT03182660.xml", {"overall_status": "WITHHELD", "study_type": None, "std_ages": []}),
        ("aact/raw_study.xml", {"last_update_post_date": "2013-07-09", "last_update_post_date_type": None}),
    ],
)
def test_legacy_spellings_become_registry_values(name: str, expected: dict[str, Any]) -> None:
    record = xml_trial(name).to_dict()
    assert {key: record[key] for key in expected} == expected


def test_unknown_status_keeps_the_last_known_one() -> None:
    for name in ("aact/NCT02591940.xml", "lupus/NCT00008749.xml", "lupus/NCT00004375.xml"):
        t = xml_trial(name)
        assert t.overall_status == "UNKNOWN"
        assert t.last_known_status in {"RECRUITING", "ACTIVE_NOT_RECRUITING", "ENROLLING_BY_INVITATION"}


def test_site_contacts_investigators_and_statuses() -> None:
    # Sub-investigators, phone extensions and recruiting sites, as the registry names them.
    t = xml_trial("sample-2023/NCT05380726.xml")
    roles = [c.role for s in t.sites for c in s.contacts]
    assert {"CONTACT", "PRINCIPAL_INVESTIGATOR", "SUB_INVESTIGATOR"} <= set(roles)
    recruiting = xml_trial("sample-2023/NCT05380479.xml")
    assert recruiting.overall_status == "RECRUITING"
    site = next(s for s in recruiting.sites if s.contacts)
    assert site.status == "RECRUITING" and site.contacts[0].role == "CONTACT"
    assert site.contacts[0].name and (site.contacts[0].email or site.contacts[0].phone)
    with_ext = [c for f in XML_DIR.rglob("*.xml") if b"<phone_ext>" in f.read_bytes() for c in _contacts(f)]
    assert any(c.phone_ext for c in with_ext)


def _contacts(path: Path) -> list[Any]:
    t = parse_clinical_study(path.read_bytes())
    return t.central_contacts + [c for s in t.sites for c in s.contacts]


def test_textblocks_are_unwrapped_but_criteria_kept_verbatim() -> None:
    block = "\n      First line of a\n      paragraph.\n\n      -  item one\n      -  item two\n    "
    assert normalize_textblock(block) == "First line of a paragraph.\n\n- item one\n- item two"
    assert normalize_textblock("  \n ") is None
    criteria = parse_clinical_study(PAIRED_XML.read_bytes()).eligibility_criteria
    assert criteria is not None
    # The legacy layout, indentation and hard wraps as the file has them (the splitter reads it).
    assert criteria.startswith(
        "\n        Inclusion Criteria:\n\n          -  Signed informed consent prior to study specific procedures."
    )
    assert (
        "          -  Pre- and postmenopausal women or men with Stage II (Stage IIA limited to max. 1000\n"
        in criteria
    )


def test_malformed_and_unreadable_xml_is_refused() -> None:
    with pytest.raises(RecordError, match="malformed XML"):
        parse_item(RawItem("broken.xml", XML, b"<clinical_study><id_info>", b""))
    bad_date = PAIRED_XML.read_bytes().replace(b"<start_date>August 2015", b"<start_date>Augtember 2015")
    with pytest.raises(RecordError, match="start_date"):
        parse_clinical_study(bad_date)
    no_id = PAIRED_XML.read_bytes().replace(b"<nct_id>NCT02513394</nct_id>", b"")
    with pytest.raises(RecordError, match="NCT id"):
        parse_clinical_study(no_id)


def expected_outcomes() -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Per file, what loading the tree must do: the id and version it carries, or its refusal."""
    loads: dict[str, tuple[str, str]] = {}
    refusals: dict[str, str] = {}
    for item in iter_paths([XML_DIR]):
        try:
            t = parse_item(item)
        except RecordError as exc:
            refusals[item.origin] = str(exc)
        else:
            loads[item.origin] = (t.nct_id, f"{t.last_update_post_date or ''}|{t.version_date or ''}")
    return loads, refusals


def test_every_xml_fixture_loads_or_is_refused_with_a_reason(engine: Engine) -> None:
    loads, refusals = expected_outcomes()
    assert set(refusals) == {str(AACT / "covid_search.xml"), str(AACT / "empty_search.xml")}
    summary = load(engine, XML_DIR)
    assert summary.seen == len(loads) + len(refusals) == 125  # 123 files + 2 members of a zip
    assert {q["origin"]: q["reason"] for q in summary.quarantine} == refusals
    assert all("RSS search feed" in reason for reason in refusals.values())
    # Every loaded file's trial is stored, at the newest version any file of it carries.
    newest: dict[str, str] = {}
    for nct_id, version in loads.values():
        newest[nct_id] = max(newest.get(nct_id, ""), version)
    with engine.connect() as conn:
        stored = {
            row.nct_id: f"{row.last_update_post_date or ''}|{row.version_date or ''}"
            for row in conn.execute(
                select(TRIAL.c.nct_id, TRIAL.c.last_update_post_date, TRIAL.c.version_date)
            )
        }
    assert stored == newest
    assert summary.inserted == len(newest) and summary.inserted + summary.stale == len(loads)
    # Sites are stored with their address and no coordinates (geocoding comes later).
    assert count(engine, SITE) > 1000
    assert count(engine, SITE, SITE.c.latitude.is_not(None)) == 0
    assert count(engine, SITE, SITE.c.geo_source.is_not(None)) == 0
    assert count(engine, SITE, SITE.c.country_code.is_(None), SITE.c.country.is_not(None)) == 0
    again = load(engine, XML_DIR)  # idempotent
    assert (again.inserted, again.updated, again.quarantined) == (0, 0, 2)
    assert count(engine, CHANGE) == 0


def test_a_file_named_by_an_alias_loads_and_a_mislabelled_one_is_refused(tmp_path: Path) -> None:
    # NCT00980226 is an alias of NCT00081588: the registry serves the merged record under it.
    item = next(iter_paths([AACT / "NCT00980226.xml"]))
    assert parse_item(item).nct_id == "NCT00081588"
    wrong = tmp_path / "NCT05380245.xml"
    shutil.copy(AACT / "NCT00081588.xml", wrong)
    with pytest.raises(RecordError, match="file named NCT05380245 holds the record of NCT00081588"):
        parse_item(next(iter_paths([wrong])))


def test_zip_archive_of_xml_records(engine: Engine, tmp_path: Path) -> None:
    archive = tmp_path / "AllPublicXML.zip"
    files = sorted((XML_DIR / "lupus").glob("*.xml"))
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            z.write(f, f"NCT0000xxxx/{f.name}")
    summary = load(engine, archive)
    assert (summary.seen, summary.inserted, summary.quarantined) == (len(files), len(files), 0)
    assert count(engine, TRIAL, TRIAL.c.source == "ctgov-xml") == len(files)


# AACT's change-detection pairs. The "_mod"/"_modified"/"_changed" files are the OLDER
# snapshots (by last update and download date), so the change is seen loading them first:
#   NCT00513591_mod.xml      lastchanged 2016-06-15, downloaded 2016-06-29
#   NCT00513591.xml          last update posted 2017-06-16, downloaded 2018-05-11
#   NCT02028676_modified.xml lastchanged 2014-06-04, downloaded 2016-12-06
#   NCT02028676.xml          last update posted 2014-06-06, downloaded 2018-05-11
#   raw_study_changed.xml    lastchanged 2013-07-09, downloaded 2016-05-11
#   raw_study.xml            lastchanged 2013-07-09, downloaded 2017-01-18
AACT_PAIRS = [
    ("NCT00513591_mod.xml", "NCT00513591.xml", "NCT00513591", ("field", "official_title")),
    ("NCT02028676_modified.xml", "NCT02028676.xml", "NCT02028676", ("field", "collaborators")),
    ("raw_study_changed.xml", "raw_study.xml", "NCT00002475", ("field", "official_title")),
]


@pytest.mark.parametrize(("older", "newer", "nct_id", "event"), AACT_PAIRS)
def test_aact_pairs_produce_change_events(
    engine: Engine, older: str, newer: str, nct_id: str, event: tuple[str, str]
) -> None:
    assert load(engine, AACT / older).inserted == 1
    summary = load(engine, AACT / newer)
    assert (summary.updated, summary.change_events > 0) == (1, True)
    with engine.connect() as conn:
        found = {
            (r.kind, r.field)
            for r in conn.execute(select(CHANGE.c.kind, CHANGE.c.field).where(CHANGE.c.nct_id == nct_id))
        }
    assert event in found and ("date", "version_date") in found


@pytest.mark.parametrize(("older", "newer", "nct_id", "event"), AACT_PAIRS)
def test_aact_older_snapshot_after_newer_is_stale(
    engine: Engine, older: str, newer: str, nct_id: str, event: tuple[str, str]
) -> None:
    load(engine, AACT / newer)
    summary = load(engine, AACT / older)
    assert (summary.updated, summary.stale, summary.change_events) == (0, 1, 0)
    with engine.connect() as conn:
        title = conn.execute(select(TRIAL.c.official_title).where(TRIAL.c.nct_id == nct_id)).scalar_one()
    assert title == parse_clinical_study((AACT / newer).read_bytes()).official_title
