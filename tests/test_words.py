"""What a clinician or an advocate reads, on the bundled sample, on SQLite and PostgreSQL:
qualifiers and Spanish names keep a condition findable; miles are miles; units without a
unit or with an unknown one are said; no place, no "nearest open site"; an empty store
says so."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from tests.sample_store import SEED_PAGE_ID, load_sample


@pytest.fixture
def sample_url(store_url: str) -> Iterator[str]:
    load_sample(store_url)
    yield store_url


def run(url: str, *args: str) -> Any:
    return CliRunner().invoke(app, ["--db", url, *args])


def ids(url: str, *args: str) -> list[str]:
    result = run(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return [m["nct_id"] for m in json.loads(result.stdout)["matches"]]


def test_qualifiers_and_spanish_names_keep_a_condition_findable(sample_url: str) -> None:
    near = ("--near", "Palencia, Spain", "--radius", "150")
    plain = ids(sample_url, "search", "lupus nephritis", *near)
    assert plain[0] == SEED_PAGE_ID
    for written in (
        "lupus nephritis class IV",
        "biopsy-proven lupus nephritis",
        "active lupus nephritis",
        "refractory lupus nephritis class III or IV",
        "nefritis lúpica",
        "nefritis lúpica clase IV",
    ):
        assert ids(sample_url, "search", written, *near)[:1] == [SEED_PAGE_ID], written
    patient = ["match", "--age", "34", "--sex", "female", "--location", "Palencia, Spain"]
    assert ids(sample_url, *patient, "--condition", "nefritis lúpica clase IV")[:1] == [SEED_PAGE_ID]


def test_miles_are_read_and_printed_as_miles(sample_url: str) -> None:
    args = ["search", "lupus nephritis", "--near", "Palencia, Spain", "--radius", "30", "--miles"]
    text = run(sample_url, *args).stdout
    assert "within 30 mi" in text and "26.5 mi" in text and " km" not in text
    # 30 miles reach Valladolid (42.7 km); 30 km would not.
    assert ids(sample_url, *args)[:1] == [SEED_PAGE_ID]
    assert ids(sample_url, *args[:-1]) == []
    data = json.loads(run(sample_url, *args, "--json").stdout)
    site = data["matches"][0]["nearest_site"]
    assert (site["distance_km"], site["distance_mi"]) == (42.7, 26.5) and data["radius_km"] == pytest.approx(
        48.28, 0.01
    )
    assert data["radius_mi"] == 30 and data["units"] == "mi"  # JSON keeps km and adds miles


def test_options_are_checked_with_suggestions(sample_url: str) -> None:
    for args, message in (
        (["search", "lupus", "--radius", "50"], "--radius needs --near"),
        (["match", "--age", "30", "--radius", "50"], "--radius needs --near"),
        (["search", "lupus", "--phase", "2"], "did you mean PHASE2?"),
        (["search", "lupus", "--status", "recruting"], "did you mean RECRUITING"),
    ):
        result = run(sample_url, *args)
        assert result.exit_code == 1 and message in result.stderr, (args, result.output)
    assert ids(sample_url, "search", "lupus", "--status", "recruiting", "--phase", "phase 2") is not None


def test_units_without_a_unit_or_with_an_unknown_one_are_said(sample_url: str) -> None:
    patient = [
        "match",
        "--age",
        "34",
        "--sex",
        "female",
        "--near",
        "Palencia, Spain",
        "--condition",
        "lupus nephritis",
    ]
    read = run(sample_url, *patient, "--measurement", "eGFR=45")
    assert read.exit_code == 0 and "note: eGFR 45: no unit given, read as mL/min/1.73 m²" in read.stdout
    bananas = run(sample_url, *patient, "--measurement", "eGFR=45 bananas")
    assert bananas.exit_code == 1
    assert (
        "measurements[0].unit" in bananas.stderr
        and "bananas" in bananas.stderr
        and "mL/min/1.73 m²" in bananas.stderr
    )


def test_no_place_no_nearest_site(sample_url: str) -> None:
    text = run(sample_url, "search", "lupus nephritis").stdout
    assert "nearest open site" not in text and "open site: " in text


def test_store_facts_read_whole(store_url: str, tmp_path: Any) -> None:
    """stats says how the last load ended; ingest --json names what it inserted and
    updated; changes shows whole values; show takes a bare number and counts "1 site"."""
    from tests.conftest import V2

    study = json.loads((V2 / "NCT04267848.json").read_text())
    first = tmp_path / "v1.json"
    first.write_text(json.dumps(study))
    loaded = run(store_url, "ingest", "file", str(first), "--json", "--no-geocode")
    assert json.loads(loaded.stdout)["inserted_ids"] == ["NCT04267848"]
    status = study["protocolSection"]["statusModule"]
    status["lastUpdatePostDateStruct"] = {"date": "2026-12-02", "type": "ACTUAL"}
    long_reason = "The sponsor stopped enrolment after an interim analysis of the first cohort " * 2
    status["whyStopped"] = long_reason.strip()
    second = tmp_path / "v2.json"
    second.write_text(json.dumps(study))
    updated = json.loads(run(store_url, "ingest", "file", str(second), "--json", "--no-geocode").stdout)
    assert updated["updated_ids"] == ["NCT04267848"] and updated["inserted_ids"] == []
    changes = run(store_url, "changes", "NCT04267848").stdout
    assert long_reason.strip() in changes  # whole, not cut at 60 characters
    assert not [line for line in changes.splitlines() if line.strip() in {"p", "r"}]
    stats = run(store_url, "stats").stdout
    assert "last ingest: ok — ingest file" in stats and "1 updated" in stats
    assert re.search(r"finished \d{4}-\d\d-\d\d \d\d:\d\d UTC;", stats), stats  # not an ISO stamp to the µs
    shown = run(store_url, "show", "04267848")
    assert shown.exit_code == 0 and "NCT04267848" in shown.stdout
    sites = len(json.loads(run(store_url, "show", "NCT04267848", "--json").stdout)["sites"])
    assert (f"{sites} site\n" if sites == 1 else f"{sites} sites") in shown.stdout
    assert "1 sites" not in shown.stdout and "()" not in shown.stdout


def test_an_empty_store_says_so(engine: Any, store_url: str) -> None:
    for args in (["search", "lupus nephritis"], ["match", "--age", "30", "--condition", "lupus nephritis"]):
        result = run(store_url, *args)
        assert result.exit_code == 0 and "holds no trials" in result.stdout, result.output
        assert "mentions" not in result.stdout


def test_ingest_ctgov_near_takes_a_place_and_the_one_default_radius(engine: Any, store_url: str) -> None:
    from tests.registry_server import load_studies, serve_registry

    with serve_registry(load_studies()) as server:
        base = ["ingest", "ctgov", "--base-url", server.base_url, "--rate-limit", "0", "--no-geocode"]
        named = run(store_url, *base, "--near", "Valladolid, Spain", "--limit", "2")
        assert named.exit_code == 0, named.output
        geo = server.requests_to("/studies")[-1].params["filter.geo"]
        assert geo.startswith("distance(41.6") and geo.endswith(",100km)")
        lone = run(store_url, *base, "--radius", "50")
        assert lone.exit_code == 1 and "--radius needs --near" in lone.stderr
        unknown = run(store_url, *base, "--near", "Vallladolidd")
        assert unknown.exit_code == 1 and "--near: no place found" in unknown.stderr


@pytest.mark.parametrize(
    ("criteria", "shown"),
    [
        ("Inclusion Criteria:\n* Type 2 diabetes\n", "condition: Diabetes Mellitus, Type 2"),
        ("Exclusion Criteria:\n* History of type 1 diabetes\n", "condition: Diabetes Mellitus, Type 1"),
        (
            "Exclusion Criteria:\n* Type 1 or type 2 diabetes\n",
            "condition: Diabetes Mellitus, Type 1 / Diabetes Mellitus, Type 2",
        ),
        # the vocabulary names the disease; the stages are what the record must also state
        (
            "Inclusion Criteria:\n* CKD stage 3 or 4\n",
            "condition: Renal Insufficiency, Chronic (stage 3 or 4)",
        ),
        (
            "Inclusion Criteria:\n* Chronic kidney disease stage 3, 4 or 5\n",
            "condition: Renal Insufficiency, Chronic (stage 3, 4 or 5)",
        ),
        (
            "Exclusion Criteria:\n* Grade 3 or 4 neuropathy\n",
            "condition: Peripheral Nervous System Diseases (Grade 3 or 4)",
        ),
        ("Inclusion Criteria:\n* NYHA class III or IV heart failure\n", "threshold: NYHA class III–IV"),
        # an allergy keeps its allergen: "allergy", alone, would exclude a patient allergic to penicillin
        (
            "Exclusion Criteria:\n* Known allergy to mycophenolate mofetil\n",
            "condition: Hypersensitivity (to mycophenolate mofetil)",
        ),
        (
            "Exclusion Criteria:\n* History of severe hypersensitivity to monoclonal antibodies;\n",
            "condition: Hypersensitivity (severe to monoclonal antibodies)",
        ),
    ],
)
def test_a_number_that_belongs_to_a_name_stays_with_it(criteria: str, shown: str) -> None:
    """ "type 2", "stage 3 or 4", "grade 3 or 4 neuropathy", "NYHA class III": never "2 diabetes"."""
    result = CliRunner().invoke(app, ["criteria", "parse", "-"], input=criteria)
    assert result.exit_code == 0
    rules = [
        line.strip().removeprefix("→ ").split("   «")[0] for line in result.stdout.splitlines() if "→" in line
    ]
    assert rules == [shown]


def test_roman_and_arabic_class_numbers_are_the_same_words() -> None:
    """A patient's "type 2 diabetes" holds the words of a trial's "type II diabetes mellitus"."""
    from datetime import date

    from ingest.criteria import parse_criteria
    from matching.eligibility import Measurement, PatientFacts, evaluate_items

    (item,) = parse_criteria("Inclusion Criteria:\n* Diagnosis of type II diabetes mellitus\n")
    facts = PatientFacts(today=date(2026, 1, 1), conditions=["type 2 diabetes mellitus"])
    assert evaluate_items([item], facts)[0].status == "met"
    (nyha,) = parse_criteria("Inclusion Criteria:\n* NYHA class III or IV heart failure\n")
    class_two = PatientFacts(today=date(2026, 1, 1), measurements=[Measurement("NYHA class", 2)])
    assert (
        evaluate_items([nyha], class_two)[0].reason
        == "NYHA class II — trial requires NYHA class III–IV: not met"
    )


def test_a_man_is_not_asked_about_pregnancy_or_womens_contraception(sample_url: str) -> None:
    """The seed trial for a man: its "Women of childbearing potential should use … contraception"
    is not among his criteria to check, and ranking by stored needs agrees (no stale-needs fallback,
    which the suite turns into an error)."""
    args = [
        "match",
        "--age",
        "40",
        "--sex",
        "male",
        "--condition",
        "lupus nephritis",
        "--near",
        "Palencia, Spain",
    ]
    result = run(sample_url, *args)
    assert result.exit_code == 0, result.output
    to_check = [line for line in result.stdout.splitlines() if line.strip().startswith("?")]
    assert to_check and not [line for line in to_check if "contracept" in line or "pregnan" in line]
    assert ids(sample_url, *args)[:1] == [SEED_PAGE_ID]


def test_a_search_that_finds_nothing_says_why_in_words(sample_url: str) -> None:
    far = run(sample_url, "search", "lupus nephritis", "--near", "Boston, MA").stdout
    assert (
        "no matches: trials mention lupus nephritis, but none that is recruiting, not yet recruiting or "
        "enrolling by invitation has a site within 100 km: widen the radius or the statuses"
    ) in far
    closed = run(sample_url, "search", "lupus nephritis", "--status", "COMPLETED").stdout
    assert "trials mention lupus nephritis, but none is completed: widen the statuses" in closed
    unknown = run(sample_url, "search", "zebra fever").stdout
    assert "no trial in the store mentions zebra fever: try a broader or other name" in unknown
    for text in (far, closed, unknown):
        assert "_" not in text and "/" not in text  # no registry codes, no "recruiting/not_yet_recruiting"
