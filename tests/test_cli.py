"""The command line, invoked as a user would, against a real store and a real HTTP registry."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, func, select
from typer.main import get_command
from typer.testing import CliRunner

from cli import app
from db.engine import open_store
from db.upsert import CRITERION, NEEDS, SITE, SOURCE
from tests.conftest import V2, stored_needs
from tests.registry_server import load_studies, serve_registry

runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def leaf_commands() -> list[str]:
    """Every runnable command's name, e.g. "ingest file" (groups excluded)."""
    found: list[str] = []

    def walk(command: Any, prefix: str) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            found.append(prefix)
            return
        for name, sub in subcommands.items():
            walk(sub, f"{prefix} {name}".strip())

    walk(get_command(app), "")
    return found


def test_the_command_tree_is_walked() -> None:
    assert {"ingest file", "ingest ctgov", "show", "stats", "db upgrade"} <= set(leaf_commands())


@pytest.mark.parametrize("name", leaf_commands())
def test_every_command_has_help_with_an_example(name: str) -> None:
    result = run(*name.split(), "--help")
    assert result.exit_code == 0
    example = re.search(r"Examples?:\s+trialsite ", result.output)
    assert example, f"`trialsite {name} --help` shows no example"


def test_ingest_file_then_show_and_stats(store_url: str) -> None:
    result = run(
        "--db", store_url, "ingest", "file", str(V2 / "dgg32_ctg-studies_50.json"), "--no-geocode", "--json"
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("seen", "inserted", "updated", "unchanged", "quarantined")} == {
        "seen": 50,
        "inserted": 50,
        "updated": 0,
        "unchanged": 0,
        "quarantined": 0,
    }
    again = json.loads(
        run("--db", store_url, "ingest", "file", str(V2 / "dgg32_ctg-studies_50.json"), "--json").stdout
    )
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 50)

    stats = json.loads(run("--db", store_url, "stats", "--json").stdout)
    raw = json.loads((V2 / "dgg32_ctg-studies_50.json").read_text())
    locations = [
        loc
        for s in raw
        for loc in s["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])
    ]
    assert stats["trials"] == 50
    assert stats["sites"] == len(locations)
    assert stats["sites_with_coordinates"] == sum(1 for loc in locations if "geoPoint" in loc)
    assert sum(stats["by_status"].values()) == 50
    assert stats["quarantined"] == 0 and stats["last_ingest"]

    # Geocoding afterwards places the sites the registry gave no geoPoint, and only those.
    geocoded = json.loads(run("--db", store_url, "geocode", "--sites", "--json").stdout)
    missing = sum(1 for loc in locations if "geoPoint" not in loc)
    assert geocoded["missing"] == missing and geocoded["geocoded"] >= 0.9 * missing
    after = json.loads(run("--db", store_url, "stats", "--json").stdout)
    assert after["sites_with_coordinates"] == stats["sites_with_coordinates"] + geocoded["geocoded"]

    human = run("--db", store_url, "show", "NCT05923112")
    assert human.exit_code == 0 and "NCT05923112" in human.output and "1 site" in human.output


def test_missing_trial_and_missing_file_are_one_clear_line(store_url: str) -> None:
    assert run("--db", store_url, "db", "upgrade").exit_code == 0  # reads never create a store
    shown = run("--db", store_url, "show", "NCT09999999")
    assert shown.exit_code == 1
    assert shown.stderr.strip().splitlines() == [
        "Error: NCT09999999 is not in the store (load it with: trialsite ingest ctgov --ids NCT09999999)"
    ]
    missing = run("--db", store_url, "ingest", "file", "/nonexistent/studies.json")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "Error: /nonexistent/studies.json: no such file or directory"


def test_quarantine_gives_exit_code_2_and_names_the_record(store_url: str, tmp_path: Any) -> None:
    studies = json.loads((V2 / "dgg32_ctg-studies_10.json").read_text())
    studies[3]["protocolSection"]["eligibilityModule"]["minimumAge"] = "eighteen"
    path = tmp_path / "export.json"
    path.write_text(json.dumps(studies))
    result = run("--db", store_url, "ingest", "file", str(path), "--json")
    assert result.exit_code == 2
    summary = json.loads(result.stdout)
    assert summary["inserted"] == 9 and summary["quarantined"] == 1
    (q,) = summary["quarantine"]
    nct_id = studies[3]["protocolSection"]["identificationModule"]["nctId"]
    assert q["nct_id"] == nct_id
    assert "eligibilityModule.minimumAge" in q["reason"] and "'eighteen'" in q["reason"]
    listed = run("--db", store_url, "quarantine", "--json")
    assert [r["nct_id"] for r in json.loads(listed.stdout)] == [nct_id]


def _study(nct_id: str) -> dict[str, Any]:
    for path in (V2 / "NCT04267848.json", V2 / "NCT02513394.json"):
        data = json.loads(path.read_text())
        if data["protocolSection"]["identificationModule"]["nctId"] == nct_id:
            return dict(data)
    raise KeyError(nct_id)


@pytest.mark.parametrize("nct_id", ["NCT04267848", "NCT02513394"])
def test_every_stored_field_round_trips(store_url: str, nct_id: str) -> None:
    raw = _study(nct_id)
    assert run("--db", store_url, "ingest", "file", str(V2 / f"{nct_id}.json")).exit_code == 0
    shown = json.loads(run("--db", store_url, "show", nct_id, "--json").stdout)
    p = raw["protocolSection"]
    ident, status, design = p["identificationModule"], p["statusModule"], p["designModule"]
    elig, sponsors = p["eligibilityModule"], p["sponsorCollaboratorsModule"]
    assert shown["brief_title"] == ident["briefTitle"]
    assert shown["official_title"] == ident["officialTitle"]
    assert shown["org_study_id"] == ident["orgStudyIdInfo"]["id"]
    assert shown["secondary_ids"] == [
        {"id": s["id"], "type": s.get("type"), "domain": s.get("domain")}
        for s in ident.get("secondaryIdInfos", [])
    ]
    assert shown["overall_status"] == status["overallStatus"]
    assert shown["phases"] == design["phases"]
    assert shown["study_type"] == design["studyType"]
    assert shown["enrollment"] == design["enrollmentInfo"]["count"]
    assert shown["enrollment_type"] == design["enrollmentInfo"]["type"]
    assert shown["minimum_age"] == elig.get("minimumAge")
    assert shown["maximum_age"] == elig.get("maximumAge")
    years = float(elig["minimumAge"].split()[0])
    assert shown["minimum_age_days"] == pytest.approx(years * 365.25)
    assert shown["sex"] == elig["sex"]
    assert shown["healthy_volunteers"] == elig.get("healthyVolunteers")
    assert shown["eligibility_criteria"] == elig["eligibilityCriteria"]
    for ours, theirs in (
        ("start_date", "startDateStruct"),
        ("primary_completion_date", "primaryCompletionDateStruct"),
        ("completion_date", "completionDateStruct"),
        ("last_update_post_date", "lastUpdatePostDateStruct"),
    ):
        assert shown[ours] == status[theirs]["date"]
        assert shown[f"{ours}_type"] == status[theirs].get("type")
    assert shown["version_date"] == raw["derivedSection"]["miscInfoModule"]["versionHolder"]
    assert shown["lead_sponsor"] == sponsors["leadSponsor"]["name"]
    assert shown["lead_sponsor_class"] == sponsors["leadSponsor"]["class"]
    assert [c["name"] for c in shown["collaborators"] or []] == [
        c["name"] for c in sponsors.get("collaborators", [])
    ]
    assert shown["conditions"] == p["conditionsModule"]["conditions"]
    browse = raw["derivedSection"]["conditionBrowseModule"]
    assert shown["mesh_terms"] == [m["term"] for m in browse.get("meshes", [])]
    assert shown["mesh_ancestors"] == [m["term"] for m in browse.get("ancestors", [])]
    arms = p["armsInterventionsModule"]
    assert [a["label"] for a in shown["arms"]] == [a["label"] for a in arms["armGroups"]]
    assert [(i["name"], i["type"]) for i in shown["interventions"]] == [
        (i["name"], i["type"]) for i in arms["interventions"]
    ]
    locations = p["contactsLocationsModule"]["locations"]
    assert len(shown["sites"]) == len(locations)
    for site, loc in zip(shown["sites"], locations, strict=True):
        assert (
            site["facility"],
            site["city"],
            site["state"],
            site["zip"],
            site["country"],
            site["status"],
        ) == (
            loc.get("facility"),
            loc.get("city"),
            loc.get("state"),
            loc.get("zip"),
            loc.get("country"),
            loc.get("status"),
        )
        point = loc.get("geoPoint")
        if point:
            assert (site["latitude"], site["longitude"], site["geo_source"]) == (
                point["lat"],
                point["lon"],
                "registry",
            )
        else:  # placed from its address by the offline gazetteer, or left without a point
            assert site["geo_source"] in ("gazetteer", None)
            assert (site["latitude"] is None) == (site["geo_source"] is None)
        assert [c.get("name") for c in site["contacts"] or []] == [
            c.get("name") for c in loc.get("contacts", [])
        ]
    us = next(s for s in shown["sites"] if s["country"] == "United States")
    assert us["country_code"] == "US"
    # The raw record is kept, compressed, with its hash and the registry's version date.
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(SOURCE).where(SOURCE.c.nct_id == nct_id)).mappings().one()
    finally:
        engine.dispose()
    stored = zlib.decompress(row["raw"])
    assert orjson.loads(stored) == raw
    assert row["content_hash"] == hashlib.sha256(stored).hexdigest()
    assert row["version_date"] == raw["derivedSection"]["miscInfoModule"]["versionHolder"]


def test_ingest_ctgov_pages_through_a_real_http_registry(store_url: str) -> None:
    studies = load_studies()
    with serve_registry(studies) as server:
        result = run(
            "--db", store_url, "ingest", "ctgov", "--base-url", server.base_url,
            "--page-size", "4", "--rate-limit", "0", "--json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        pages = server.requests_to("/studies")
    summary = json.loads(result.stdout)
    assert summary["inserted"] == len(studies) and len(pages) >= 3
    assert summary["ids"] == [s["protocolSection"]["identificationModule"]["nctId"] for s in studies]
    assert all("trialsite" in r.headers["user-agent"] for r in pages)


def test_ingest_ctgov_missing_id_is_one_line_and_the_rest_load(store_url: str) -> None:
    studies = load_studies()
    known = studies[0]["protocolSection"]["identificationModule"]["nctId"]
    with serve_registry(studies) as server:
        result = run(
            "--db", store_url, "ingest", "ctgov", "--base-url", server.base_url,
            "--ids", f"{known},NCT09999999", "--rate-limit", "0", "--json",
        )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: NCT09999999 not found in the registry")
    assert json.loads(result.stdout)["ids"] == [known]


def test_bad_options_are_refused_before_any_request(store_url: str) -> None:
    result = run("--db", store_url, "ingest", "ctgov", "--near", "Vallladolidd de los Montes")
    assert result.exit_code == 1 and result.stderr.startswith("Error: --near: no place found")
    result = run("--db", store_url, "ingest", "ctgov", "--near", "91.0,-4.7")
    assert result.exit_code == 1 and "latitude" in result.stderr
    result = run("--db", store_url, "ingest", "ctgov", "--updated-since", "2024-13-01")
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")


def test_ingest_geocodes_sites_without_coordinates_and_keeps_registry_points(store_url: str) -> None:
    path = V2 / "nsclcbench_ctg-studies_100.json"
    assert run("--db", store_url, "ingest", "file", str(path)).exit_code == 0
    raw = json.loads(path.read_text())
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(SITE.c.nct_id, SITE.c.position, SITE.c.latitude, SITE.c.longitude, SITE.c.geo_source)
            ).all()
    finally:
        engine.dispose()
    stored = {(r.nct_id, r.position): r for r in rows}
    placed = 0
    for study in raw:
        nct_id = study["protocolSection"]["identificationModule"]["nctId"]
        locations = study["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])
        for i, loc in enumerate(locations):
            row = stored[(nct_id, i)]
            if "geoPoint" in loc:
                assert (row.latitude, row.longitude, row.geo_source) == (
                    loc["geoPoint"]["lat"],
                    loc["geoPoint"]["lon"],
                    "registry",
                )
            elif row.latitude is not None:
                assert row.geo_source == "gazetteer"
                placed += 1
    missing = sum(
        1
        for s in raw
        for loc in s["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])
        if "geoPoint" not in loc
    )
    # 18 sites have no geoPoint; 13 are placed. The other five are addresses the registry's
    # own geocoder also gave up on ("Sta.Ma Feira", "V.N: de Gaia", a mangled "Gro?hansdorf"):
    # left unplaced rather than guessed.
    assert missing == 18 and placed >= 13


def test_criteria_parse_reads_stdin_and_prints_rules() -> None:
    text = "Inclusion Criteria:\n\n* SLEDAI-2K \\>= 10\n\nExclusion Criteria:\n\n* ALT > 2.5 x ULN\n"
    result = runner.invoke(app, ["criteria", "parse", "-", "--json"], input=text)
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert [(i["section"], i["text"]) for i in items] == [
        ("inclusion", "SLEDAI-2K >= 10"),
        ("exclusion", "ALT > 2.5 x ULN"),
    ]
    sledai = items[0]["rules"][0]
    assert (sledai["kind"], sledai["comparator"], sledai["value"]) == ("threshold", ">=", 10)
    assert items[1]["rules"][0]["uln_multiple"] is True
    human = runner.invoke(app, ["criteria", "parse", "-"], input=text)
    assert "threshold" in human.stdout and "SLEDAI-2K >= 10" in human.stdout


@pytest.mark.parametrize("workers", ["0", "2"])
def test_criteria_reparse_rebuilds_stored_rules(store_url: str, workers: str) -> None:
    assert (
        run(
            "--db", store_url, "ingest", "file", str(V2 / "dgg32_ctg-studies_10.json"), "--no-geocode"
        ).exit_code
        == 0
    )
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            before = conn.execute(select(CRITERION).order_by(CRITERION.c.nct_id, CRITERION.c.position)).all()
        needs_before, _ = stored_needs(engine)
        with engine.begin() as conn:
            conn.execute(delete(CRITERION))
            conn.execute(delete(NEEDS))
        result = run("--db", store_url, "criteria", "reparse", "--json", "--workers", workers)
        assert result.exit_code == 0, result.output
        counts = json.loads(result.stdout)
        with engine.connect() as conn:
            after = conn.execute(select(CRITERION).order_by(CRITERION.c.nct_id, CRITERION.c.position)).all()
        needs_after = stored_needs(engine)
    finally:
        engine.dispose()
    assert counts["trials"] == 10 and counts["items"] == len(before) > 0
    strip = [tuple(r)[1:] for r in before]  # ids differ, everything else is rebuilt identically
    assert [tuple(r)[1:] for r in after] == strip
    assert needs_after == (needs_before, needs_before) and needs_before


def test_reparse_in_workers_pipelines_batches_to_the_same_rows(store_url: str) -> None:
    """Small batches in two worker processes: every batch read, parsed elsewhere, written."""
    from ingest.reparse import reparse_criteria

    path = str(V2 / "dgg32_ctg-studies_50.json")
    assert run("--db", store_url, "ingest", "file", path, "--no-geocode").exit_code == 0
    engine = open_store(store_url)
    query = select(CRITERION).order_by(CRITERION.c.nct_id, CRITERION.c.position)
    try:
        with engine.connect() as conn:
            at_ingest = [tuple(r)[1:] for r in conn.execute(query)]
        needs_at_ingest, _ = stored_needs(engine)
        with engine.begin() as conn:
            conn.execute(delete(CRITERION))
            conn.execute(delete(NEEDS))
        seen: list[int] = []
        counts = reparse_criteria(engine, pending_only=True, batch_size=7, workers=2, progress=seen.append)
        with engine.connect() as conn:
            rebuilt = [tuple(r)[1:] for r in conn.execute(query)]
        needs_rebuilt = stored_needs(engine)
    finally:
        engine.dispose()
    assert counts["trials"] == 50 and seen == [7] * 7 + [1]
    assert rebuilt == at_ingest and counts["items"] == len(at_ingest)
    assert needs_rebuilt == (needs_at_ingest, needs_at_ingest) and needs_at_ingest


def test_deferred_criteria_are_parsed_by_reparse_pending(store_url: str) -> None:
    path = str(V2 / "dgg32_ctg-studies_10.json")
    assert run("--db", store_url, "ingest", "file", path, "--no-geocode", "--defer-criteria").exit_code == 0
    engine = open_store(store_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(CRITERION)).scalar_one() == 0
        pending = json.loads(run("--db", store_url, "criteria", "reparse", "--pending", "--json").stdout)
        assert pending["trials"] == 10 and pending["items"] > 0
        again = json.loads(run("--db", store_url, "criteria", "reparse", "--pending", "--json").stdout)
        assert again["trials"] == 0  # nothing left pending
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(CRITERION)).scalar_one()
        summaries, counted = stored_needs(engine)
    finally:
        engine.dispose()
    assert stored == pending["items"]
    assert summaries == counted and len(summaries) == 10  # the match's needs rows, written by reparse


def _command_paths() -> list[list[str]]:
    import typer.main

    from cli import app as root

    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(root), [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "trialsite")
def test_every_help_reads_as_words_with_examples_on_their_own_lines(path: list[str]) -> None:
    from cli import app as root

    result = CliRunner().invoke(root, [*path, "--help"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for python_type in ("<str>", "<int", "<float>", "<list", "<path>", "{"):
        assert python_type not in text, (path, python_type)
    for line in text.splitlines():
        # One example a line: never two commands run together by the help formatter.
        assert line.count("trialsite ") <= 1 or "|" in line or "&&" in line, line
        assert not line.strip().startswith("Example: trialsite"), line


def test_criteria_json_gives_needs_as_a_documented_structure() -> None:
    from cli import app as root

    text = "Inclusion Criteria:\n* eGFR >= 30 mL/min/1.73 m2\n* Biopsy-proven lupus nephritis\n"
    result = CliRunner().invoke(root, ["criteria", "parse", "-", "--json"], input=text)
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert "&" not in json.dumps([i["needs"] for i in items])  # no storage encoding
    egfr = items[0]["needs"]
    assert egfr["combine"] == "all"
    assert {"kind": "measurement", "variable": "egfr"} in egfr["rules"][0]["decided_by_any_of"]
    # a condition rule is decided by the vocabulary concept it names (lupus nephritis, D008181)
    facts = items[1]["needs"]["rules"][0]["decided_by_any_of"]
    assert {"kind": "condition", "concept": "D008181"} in facts
    assert items[1]["rules"][0]["concepts"] == [{"id": "D008181", "name": "Lupus Nephritis"}]
